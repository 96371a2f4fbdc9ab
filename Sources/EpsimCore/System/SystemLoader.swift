/// Reads a target-system YAML file (configs/systems/*.yaml; schema in
/// docs/model-data/README.md) into a checked `SystemSpec`. Errors are one line naming the
/// file, the key path and the offending value, in `ConfigLoader`'s style; unknown keys
/// are errors with a "did you mean" hint; every number has the range the model can honour.
extension SystemSpec {
    /// System files larger than this are refused before they are parsed.
    public static let maxSystemBytes = 1 << 20

    static let topKeys = ["name", "devices_per_node", "rank_map", "device", "intra_node", "inter_node", "all_to_all"]
    static let deviceKeys = ["bf16_tflops", "gemm_efficiency", "hbm_gbps", "launch_us", "kernel_us", "loop_expert_us",
                             "grouped_efficiency", "grouped_host_us", "scatter_efficiency", "compute_bytes", "permute_row_ns",
                             "unpermute_row_ns", "gate_gemm_efficiency", "execution", "efficiency", "copy_rates"]
    static let pointKeys = ["rows", "hidden", "ffn", "ms"]
    static let linkKeys = ["gbps", "efficiency", "latency_us", "after_experts", "sweep"]
    static let linkCostKeys = ["gbps", "latency_us", "sweep"]
    static let sweepKeys = ["bytes", "us"]
    static let copyRateKeys = ["bytes", "gbps"]

    /// Reads and checks the system file at `path`.
    public static func load(path: String) throws(ConfigError) -> SystemSpec {
        guard !path.isEmpty else { throw ConfigError(file: "--system", keyPath: "", "the path is empty") }
        switch BoundedRead.text(path, limit: maxSystemBytes) {
        case let .success(text):
            return try parse(yaml: text, sourcePath: path)
        case let .failure(.unreadable(reason)):
            throw ConfigError(file: path, keyPath: "", "cannot read file: \(reason)")
        case let .failure(.tooLarge(limit)):
            throw ConfigError(file: path, keyPath: "", "larger than \(mebibytes(limit)); a system file is a small YAML file")
        }
    }

    /// Parses the YAML text of a system file; `sourcePath` names it in errors.
    public static func parse(yaml: String, sourcePath: String?) throws(ConfigError) -> SystemSpec {
        guard let tree = try ConfigNode.parse(yaml, file: sourcePath) else {
            throw ConfigError(file: sourcePath, keyPath: "", "the file is empty; a system file needs name, devices_per_node, device, intra_node, inter_node")
        }
        let r = SystemReader(base: ConfigReader(file: sourcePath))
        let top = try r.base.mapping(tree, "", allowed: topKeys)
        let name = try r.base.scalar(try r.required(top, "name", in: ""), "name", expected: "a name")
        guard !name.isEmpty, name.count <= 200 else {
            throw r.base.fail("name", top["name"], "expected a name of 1 to 200 characters, got '\(name.prefix(60))'")
        }
        let g = try r.int(try r.required(top, "devices_per_node", in: ""), "devices_per_node", 1...1_000_000)
        var rankMap: [Int]?
        if let node = top["rank_map"] {
            var nodes: [Int] = []
            for (i, item) in try r.base.list(node, "rank_map", of: "node numbers").enumerated() {
                nodes.append(try r.int(item, "rank_map[\(i)]", 0...1_000_000))
            }
            guard !nodes.isEmpty else { throw r.base.fail("rank_map", node, "expected a node number per rank, got an empty list") }
            for n in Set(nodes) where nodes.count(where: { $0 == n }) > g {
                throw r.base.fail("rank_map", node, "node \(n) holds \(nodes.count(where: { $0 == n })) ranks, more than devices_per_node \(g)")
            }
            rankMap = nodes
        }
        let device = try decodeDevice(try r.required(top, "device", in: ""), r)
        let intra = try decodeLink(try r.required(top, "intra_node", in: ""), "intra_node", r)
        let inter = try decodeLink(try r.required(top, "inter_node", in: ""), "inter_node", r)
        var algorithm = AllToAllAlgorithm.flat
        if let node = top["all_to_all"] { algorithm = try r.base.choice(node, "all_to_all") }
        return SystemSpec(name: name, sourcePath: sourcePath, devicesPerNode: g, rankMap: rankMap, device: device,
                          intraNode: intra, interNode: inter, allToAll: algorithm)
    }

    static func decodeDevice(_ node: ConfigNode, _ r: SystemReader) throws(ConfigError) -> DeviceSpec {
        let m = try r.base.mapping(node, "device", allowed: deviceKeys)
        let p = "device."
        var d = DeviceSpec(
            bf16TFLOPS: try r.number(try r.required(m, "bf16_tflops", in: "device"), p + "bf16_tflops", above: 0, upTo: 1e5),
            hbmGBps: try r.number(try r.required(m, "hbm_gbps", in: "device"), p + "hbm_gbps", above: 0, upTo: 1e6),
            launchMicros: try r.number(try r.required(m, "launch_us", in: "device"), p + "launch_us", from: 0, upTo: 1e6),
            execution: try r.base.choice(try r.required(m, "execution", in: "device"), p + "execution"))
        if let n = m["gemm_efficiency"] { d.gemmEfficiency = try r.number(n, p + "gemm_efficiency", above: 0, upTo: 1) }
        if let n = m["kernel_us"] { d.kernelMicros = try r.number(n, p + "kernel_us", from: 0, upTo: 1e6) }
        if let n = m["loop_expert_us"] { d.loopExpertMicros = try r.number(n, p + "loop_expert_us", from: 0, upTo: 1e6) }
        if let n = m["grouped_efficiency"] { d.groupedEfficiency = try r.number(n, p + "grouped_efficiency", above: 0, upTo: 1) }
        if let n = m["grouped_host_us"] { d.groupedHostMicros = try r.number(n, p + "grouped_host_us", from: 0, upTo: 1e6) }
        if let n = m["scatter_efficiency"] { d.scatterEfficiency = try r.number(n, p + "scatter_efficiency", above: 0, upTo: 1) }
        if let n = m["compute_bytes"] { d.computeBytes = try r.int(n, p + "compute_bytes", 1...8) }
        if let n = m["permute_row_ns"] { d.permuteRowNanos = try r.number(n, p + "permute_row_ns", from: 0, upTo: 1e6) }
        if let n = m["unpermute_row_ns"] { d.unpermuteRowNanos = try r.number(n, p + "unpermute_row_ns", from: 0, upTo: 1e6) }
        if let n = m["gate_gemm_efficiency"] { d.gateGemmEfficiency = try r.number(n, p + "gate_gemm_efficiency", above: 0, upTo: 1) }
        if let n = m["efficiency"] {
            // One time per shape and row count, so interpolation is a function.
            let points = try r.points(n, p + "efficiency", of: "{rows, hidden, ffn, ms}", keys: pointKeys,
                                      key: { [$0.rows, $0.hidden, $0.ffn] },
                                      duplicate: { "a second point for rows \($0.rows), hidden \($0.hidden), ffn \($0.ffn)" }) { (pm, q) throws(ConfigError) in
                EfficiencyPoint(
                    rows: try r.int(try r.required(pm, "rows", in: q), q + ".rows", 1...1 << 40),
                    hidden: try r.int(try r.required(pm, "hidden", in: q), q + ".hidden", 1...1 << 24),
                    ffn: try r.int(try r.required(pm, "ffn", in: q), q + ".ffn", 1...1 << 24),
                    milliseconds: try r.number(try r.required(pm, "ms", in: q), q + ".ms", above: 0, upTo: 1e9))
            }
            d.efficiency = points.isEmpty ? nil : points
        }
        if let n = m["copy_rates"] {
            // One rate per size, so interpolation is a function.
            let points = try r.points(n, p + "copy_rates", of: "{bytes, gbps}", keys: copyRateKeys,
                                      key: { [$0.bytes] }, duplicate: { "a second point for bytes \($0.bytes)" }) { (pm, q) throws(ConfigError) in
                CopyRatePoint(bytes: try r.int(try r.required(pm, "bytes", in: q), q + ".bytes", 1...1 << 40),
                              gbps: try r.number(try r.required(pm, "gbps", in: q), q + ".gbps", above: 0, upTo: 1e6))
            }
            d.copyRates = points.isEmpty ? nil : points
        }
        return d
    }

    static func decodeLink(_ node: ConfigNode, _ path: String, _ r: SystemReader) throws(ConfigError) -> LinkSpec {
        let m = try r.base.mapping(node, path, allowed: linkKeys)
        var link = LinkSpec(try decodeLinkCost(m, path, r))
        if let n = m["efficiency"] { link.efficiency = try r.number(n, path + ".efficiency", above: 0, upTo: 1) }
        if let n = m["after_experts"] {
            let q = path + ".after_experts"
            link.afterExperts = try decodeLinkCost(try r.base.mapping(n, q, allowed: linkCostKeys), q, r)
        }
        return link
    }

    /// A link's `gbps` (0, 1e5] and `latency_us` [0, 1e6], both required, and its
    /// optional `sweep`: at least one point {bytes [1, 2^50], us (0, 1e9]}, one per
    /// byte count, in any order.
    static func decodeLinkCost(_ m: [String: ConfigNode], _ path: String, _ r: SystemReader) throws(ConfigError) -> LinkCost {
        var sweep: [LinkTimePoint]?
        if let n = m["sweep"] {
            let q = path + ".sweep"
            let points = try r.points(n, q, of: "{bytes, us}", keys: sweepKeys, key: { [Int($0.bytes)] },
                                      duplicate: { "a second point for bytes \($0.bytes)" }) { (pm, q) throws(ConfigError) in
                LinkTimePoint(bytes: Int64(try r.int(try r.required(pm, "bytes", in: q), q + ".bytes", 1...1 << 50)),
                              micros: try r.number(try r.required(pm, "us", in: q), q + ".us", above: 0, upTo: 1e9))
            }
            guard !points.isEmpty else { throw r.base.fail(q, n, "expected at least one point {bytes, us}, got an empty list") }
            sweep = points
        }
        return LinkCost(gbps: try r.number(try r.required(m, "gbps", in: path), path + ".gbps", above: 0, upTo: 1e5),
                        latencyMicros: try r.number(try r.required(m, "latency_us", in: path), path + ".latency_us", from: 0, upTo: 1e6),
                        sweep: sweep)
    }
}

/// Typed reads with explicit ranges (system keys have no rows in `ConfigKeys.table`,
/// which describes layout configs); messages follow `ConfigKey.expected`'s wording.
struct SystemReader {
    let base: ConfigReader

    func required(_ m: [String: ConfigNode], _ key: String, in path: String) throws(ConfigError) -> ConfigNode {
        guard let node = m[key] else {
            throw ConfigError(file: base.file, keyPath: path.isEmpty ? key : path + "." + key, "missing (required)")
        }
        return node
    }

    /// A list of measured points (`path`[i] mappings with `keys`), each decoded by `point`
    /// (given its mapping and its path); a second point with the same `key` is an error
    /// (`duplicate` says which), so that interpolating the table is a function.
    func points<P>(_ node: ConfigNode, _ path: String, of shape: String, keys: [String], key: (P) -> [Int],
                   duplicate: (P) -> String,
                   _ point: ([String: ConfigNode], String) throws(ConfigError) -> P) throws(ConfigError) -> [P] {
        var points: [P] = []
        for (i, item) in try base.list(node, path, of: "points " + shape).enumerated() {
            let q = path + "[\(i)]"
            points.append(try point(try base.mapping(item, q, allowed: keys), q))
        }
        var seen = Set<[Int]>()
        for (i, pt) in points.enumerated() where !seen.insert(key(pt)).inserted {
            throw base.fail(path + "[\(i)]", node, duplicate(pt))
        }
        return points
    }

    func int(_ node: ConfigNode, _ path: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let expected = "an integer in [\(range.lowerBound), \(range.upperBound)]"
        let text = try base.scalar(node, path, expected: expected)
        guard let value = Int(text.filter { $0 != "_" }), range.contains(value) else {
            throw base.fail(path, node, "expected \(expected), got '\(text)'")
        }
        return value
    }

    /// A finite number in (lower, upper] (`above:`) or [lower, upper] (`from:`).
    func number(_ node: ConfigNode, _ path: String, above lower: Double, upTo upper: Double) throws(ConfigError) -> Double {
        try number(node, path, lower: lower, open: true, upper: upper)
    }

    func number(_ node: ConfigNode, _ path: String, from lower: Double, upTo upper: Double) throws(ConfigError) -> Double {
        try number(node, path, lower: lower, open: false, upper: upper)
    }

    private func number(_ node: ConfigNode, _ path: String, lower: Double, open: Bool, upper: Double) throws(ConfigError) -> Double {
        let expected = "a number in \(open ? "(" : "[")\(shown(lower)), \(shown(upper))]"
        let text = try base.scalar(node, path, expected: expected)
        guard let value = Double(text.filter { $0 != "_" }), value.isFinite,
              open ? value > lower : value >= lower, value <= upper else {
            throw base.fail(path, node, "expected \(expected), got '\(text)'")
        }
        return value
    }

    /// A bound as messages write it: powers of ten from 1e4 as `1e5`, else the number.
    private func shown(_ x: Double) -> String {
        var power = 1e4, exponent = 4
        while power < x { power *= 10; exponent += 1 }
        if power == x { return "1e\(exponent)" }
        return x == x.rounded() ? String(Int(x)) : String(x)
    }
}
