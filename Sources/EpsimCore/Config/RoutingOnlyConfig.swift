/// What `epsim run --routing-only` changes in a config before it is checked: the
/// router, capacity and overflow run on every rank, and nothing else, so the hidden
/// and FFN sizes need not be given, and a trace gives the token counts.
///
/// - `model.ffn=1` and `compute=modeled`: no expert weights are built.
/// - `model.hidden=1` unless the workload is `gating` (whose logits x · Wg need H: it
///   must be given, and only one layer can be routed, since layer l + 1 routes the
///   output of layer l's experts).
/// - `trace`, `topk_trace`: `tokens` left out is taken from the sources' rows per step
///   and layer (one file split across
///   ranks as evenly as possible, the first ranks one more; or each rank's own file);
///   `tokens` given must account for every row, since every recorded token is replayed.
public enum RoutingOnlyConfig {
    /// The overrides to append to `overrides` for a routing-only run of the config at
    /// `path` on `worldSize` ranks.
    ///
    /// - Throws: `ConfigError` for a config that does not load, a gating workload without
    ///   `model.hidden` or with several layers, a trace whose files cannot be read, and a
    ///   trace whose row count does not fit the given `tokens`; one line naming the key,
    ///   the file, its rows and the count expected.
    public static func overrides(path: String, overrides: [String], worldSize P: Int) throws(ConfigError) -> [String] {
        let c = try ConfigLoader.load(path: path, overrides: overrides)
        var extra = ["model.ffn=1", "compute=modeled"]
        if case .gating = c.workload {
            guard sets("model.hidden", path: path, overrides: overrides) else {
                throw ConfigError(file: path, keyPath: "model.hidden",
                                  "--routing-only with workload gating computes the logits x · Wg: give the hidden size H")
            }
            guard c.model.layers == 1 else {
                throw ConfigError(file: c.origin(of: "model.layers"), keyPath: "model.layers",
                                  "\(c.model.layers) layers with workload gating: layer 1 routes layer 0's output, which "
                                  + "needs the experts --routing-only does not run; use 1 layer, or a synthetic or trace workload")
            }
        } else {
            extra.append("model.hidden=1")
        }
        if let (sources, dtype) = c.workload.traceSources {
            // A top-k trace's rows are those of its indices (the weights must match them).
            var files = sources, key = NpyReader.keyPath, bf16 = dtype == .bf16
            if case let .topkTrace(ids, _, _) = c.workload { (files, key, bf16) = (ids, "workload.topk_ids", false) }
            try ConfigValidator.checkTraceFiles(files.count, worldSize: P, origin: c.origin(of: "workload"), key: key)
            var rows: [Int] = []
            for f in files {
                rows.append(try TraceSource.inspect(f, key: key, bf16: bf16, configFile: c.origin(of: "workload")).rows)
            }
            if sets("tokens", path: path, overrides: overrides) {
                try check(rows: rows, files: files, config: c, worldSize: P)
            } else {
                extra.append("tokens=" + tokensText(rows: rows, worldSize: P))
            }
        }
        return extra
    }

    /// Every row of every trace file is one rank's token: refuses any other count.
    static func check(rows: [Int], files: [String], config c: SimConfig, worldSize P: Int) throws(ConfigError) {
        let tokens = (0..<P).map { c.tokens(rank: $0, size: P) }
        let origin = c.origin(of: "tokens")
        if files.count == 1 {
            let need = tokens.reduce(0, +)
            guard rows[0] == need else {
                let split = Set(tokens).count == 1 ? "\(tokens[0]) on each of \(P) ranks" : "\(tokens) on \(P) ranks"
                throw ConfigError(file: origin, keyPath: "tokens",
                                  "\(files[0]) has \(rows[0]) rows, expected \(need) (tokens \(split)); --routing-only "
                                  + "replays every row: leave tokens out to take them from the file")
            }
        } else {
            for r in 0..<P where rows[r] != tokens[r] {
                throw ConfigError(file: origin, keyPath: "tokens",
                                  "\(files[r]) has \(rows[r]) rows, expected \(tokens[r]) (the tokens of rank \(r)); "
                                  + "--routing-only replays every row: leave tokens out to take them from the files")
            }
        }
    }

    /// `tokens` for the files' rows: one file's rows split over P ranks (the first
    /// rows mod P ranks one more), or each file's rows.
    static func tokensText(rows: [Int], worldSize P: Int) -> String {
        let counts = rows.count == 1 ? (0..<P).map { rows[0] / P + ($0 < rows[0] % P ? 1 : 0) } : rows
        return Set(counts).count == 1 ? "\(counts[0])" : "[" + counts.map(String.init).joined(separator: ", ") + "]"
    }

    /// Whether the file at `path` or one of `overrides` gives `keyPath` (dotted, e.g.
    /// `model.hidden`), itself or a mapping above it. A file that does not read or parse
    /// gives nothing (`ConfigLoader.load` reports it).
    public static func sets(_ keyPath: String, path: String, overrides: [String]) -> Bool {
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else { continue }
            let key = String(o[..<eq])
            if key == keyPath || keyPath.hasPrefix(key + ".") { return true }
        }
        guard case let .success(text) = BoundedRead.text(path, limit: ConfigLoader.maxConfigBytes),
              var node = try? ConfigNode.parse(text, file: path) else { return false }
        for part in keyPath.split(separator: ".") {
            guard case let .map(pairs, _) = node, let next = pairs.first(where: { $0.0 == part })?.1 else { return false }
            node = next
        }
        return true
    }
}
