#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a YAML layout into a checked `SimConfig`. Every key is optional (defaults in
/// `Config.swift`; `ConfigKeys.table` and docs/config.md list them); unknown keys and
/// wrong types are one-line `ConfigError`s naming the key path and the text, and
/// `ConfigValidator` then checks the values read.
public enum ConfigLoader {
    /// Keys valid at each level, from `ConfigKeys.table`; adding a key is a row there
    /// plus its read below.
    static let topKeys = ConfigKeys.children(of: "")
    static let modelKeys = ConfigKeys.children(of: "model")
    static let routerKeys = ConfigKeys.children(of: "router")
    static let workloadKeys = ConfigKeys.children(of: "workload")
    static let capacityKeys = ConfigKeys.children(of: "capacity")
    static let overflowKeys = ConfigKeys.children(of: "overflow")
    static let placementKeys = ConfigKeys.children(of: "placement")
    static let replicaKeys = ConfigKeys.children(of: "placement.replicas[]")
    static let dispatchKeys = ConfigKeys.children(of: "dispatch")
    static let precisionKeys = ConfigKeys.children(of: "precision")
    static let overlapKeys = ConfigKeys.children(of: "overlap")
    static let computeKeys = ConfigKeys.children(of: "compute")

    /// Config files larger than this are refused before they are parsed.
    public static let maxConfigBytes = 16 << 20

    /// Reads and checks `path` (at most `maxConfigBytes`), then applies `overrides`
    /// (`key.path=value`).
    public static func load(path: String, overrides: [String] = []) throws(ConfigError) -> SimConfig {
        guard !path.isEmpty else { throw ConfigError(file: "--config", keyPath: "", "the path is empty") }
        switch BoundedRead.text(path, limit: maxConfigBytes) {
        case let .success(text):
            return try parse(yaml: text, file: path, overrides: overrides)
        case let .failure(.unreadable(reason)):
            throw ConfigError(file: path, keyPath: "", "cannot read file: \(reason)")
        case let .failure(.tooLarge(limit)):
            throw ConfigError(file: path, keyPath: "", "larger than \(mebibytes(limit)); a config is a small YAML file")
        }
    }

    /// Parses YAML text; `file` names it in errors and anchors relative trace paths.
    public static func parse(yaml: String, file: String?, overrides: [String] = []) throws(ConfigError) -> SimConfig {
        var tree = try ConfigNode.parse(yaml, file: file) ?? .map([], override: nil)
        if case .scalar(let text, _, _) = tree, text.isEmpty { tree = .map([], override: nil) }
        for override in overrides {
            guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
                throw ConfigError(file: "--set", keyPath: "", "expected key=value, got '\(override)'")
            }
            let path = override[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if path.contains(where: \.isEmpty) {
                throw ConfigError(file: "--set", keyPath: "", "malformed key path '\(override[..<eq])'")
            }
            let valueText = String(override[override.index(after: eq)...])
            let value = try ConfigNode.parse(valueText, file: "--set " + override, override: override)
                ?? .scalar("", quoted: false, override: override)
            tree = try tree.setting(path[...], to: value, override: override)
        }
        var config = try decode(tree, reader: ConfigReader(file: file))
        config.sourcePath = file
        config.overrides = overrides
        try ConfigValidator.check(config)
        // Trace paths in the file are relative to it; those given with --set, to the
        // working directory.
        if let file, config.origin(of: "workload") == file {
            switch config.workload {
            case let .trace(files, dtype):
                config.workload = .trace(files: files.map { resolve($0, relativeTo: file) }, dtype: dtype)
            case let .topkTrace(ids, weights, dtype):
                config.workload = .topkTrace(ids: ids.map { resolve($0, relativeTo: file) },
                                             weights: weights.map { resolve($0, relativeTo: file) }, dtype: dtype)
            default: break
            }
        }
        // The EPLB load file likewise; it is read here, so every rank holds the same numbers.
        if case var .eplb(e) = config.placement.base {
            if let file, config.origin(of: "placement.load") == file { e.file = resolve(e.file, relativeTo: file) }
            e.load = try ExpertLoadFile.read(e.file, experts: config.model.experts,
                                             origin: config.origin(of: "placement.load"))
            config.placement.base = .eplb(e)
        }
        return config
    }

    static func decode(_ tree: ConfigNode, reader r: ConfigReader) throws(ConfigError) -> SimConfig {
        var c = SimConfig()
        let top = try r.mapping(tree, "", allowed: topKeys)
        // `router.compat` first: its values are the defaults the file's keys override.
        if let node = top["router"], case .map = node,
           let n = try r.mapping(node, "router", allowed: routerKeys)["compat"] {
            let preset: CompatPreset = try r.choice(n, "router.compat")
            preset.apply(to: &c)
        }
        if let node = top["model"] { c.model = try decodeModel(node, r) }
        if let node = top["tokens"] {
            if case .list = node {
                c.tokens = .perRank(try r.intList(node, "tokens"))
            } else {
                c.tokens = .uniform(try r.int(node, "tokens"))
            }
        }
        if let node = top["router"] { c.router = try decodeRouter(node, r, base: c.router) }
        if let node = top["workload"] { c.workload = try decodeWorkload(node, r) }
        if let node = top["capacity"] { c.capacity = try decodeCapacity(node, r, base: c.capacity) }
        if let node = top["overflow"] { c.overflow = try decodeOverflow(node, r, base: c.overflow) }
        if let node = top["placement"] { c.placement = try decodePlacement(node, r, routerGroups: c.router.groups) }
        if let node = top["dispatch"] {
            let p = try r.mapping(node, "dispatch", allowed: dispatchKeys)
            if let n = p["dedup"] { c.dispatch.dedup = try r.choice(n, "dispatch.dedup") }
        }
        if let node = top["precision"] {
            let p = try r.mapping(node, "precision", allowed: precisionKeys)
            if let n = p["dispatch"] { c.precision.dispatch = try r.choice(n, "precision.dispatch") }
            if let n = p["combine"] { c.precision.combine = try r.choice(n, "precision.combine") }
        }
        if let node = top["compute"] { c.compute = try decodeCompute(node, r) }
        if let node = top["overlap"] {
            let p = try r.mapping(node, "overlap", allowed: overlapKeys)
            if let n = p["chunks"] {
                c.overlapChunks = try r.int(n, "overlap.chunks")
            }
        }
        if let node = top["steps"] { c.steps = try r.int(node, "steps") }
        if let node = top["warmup_steps"] { c.warmupSteps = try r.int(node, "warmup_steps") }
        if let node = top["seed"] { c.seed = try r.seed(node, "seed") }
        if let node = top["ranks"] { c.ranks = try r.int(node, "ranks") }
        return c
    }

    static func resolve(_ path: String, relativeTo configFile: String) -> String {
        guard !path.hasPrefix("/"), let slash = configFile.lastIndex(of: "/") else { return path }
        return String(configFile[...slash]) + path
    }
}
