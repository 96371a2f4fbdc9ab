import Foundation

/// One compared case: a measured or published figure and the model's.
public struct ValidationRow: Sendable, Equatable {
    public var label: String
    public var measured: Double
    public var modeled: Double
    /// Whether the case was used to fit a parameter (the others are held out).
    public var fitted: Bool
    /// (modeled − measured) / measured.
    public var relativeError: Double { (modeled - measured) / measured }
}

/// A table of compared cases with its summary and the bound the tests hold it to.
public struct ValidationTable: Sendable, Equatable {
    public var title: String
    /// The unit of `measured` and `modeled` ("ms", "GB/s").
    public var unit: String
    public var rows: [ValidationRow]
    /// The bound on the median absolute relative error the project holds the table to.
    public var bound: Double

    public var medianError: Double { Self.median(rows.map { abs($0.relativeError) }) }
    public var maxError: Double { rows.map { abs($0.relativeError) }.max() ?? 0 }
    /// Median over the held-out rows only (all rows when none was fitted).
    public var heldOutMedianError: Double {
        let held = rows.filter { !$0.fitted }
        return held.isEmpty ? medianError : Self.median(held.map { abs($0.relativeError) })
    }

    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// The model against ground truth (docs/model-data/README.md): the H200 measurements and
/// DeepEP's published normal-kernel bandwidths. `epsim validate-model` prints these tables.
public enum ModelValidation {
    /// Every table: H200 expert phase per execution mode and per layouts.json run, H200
    /// other phases, DeepEP normal kernels. `dataDirectory` holds the JSON copies;
    /// `systemsDirectory` holds h200-8x.yaml and h800-8x-ib400.yaml.
    public static func all(dataDirectory: String, systemsDirectory: String) throws(ConfigError) -> [ValidationTable] {
        let h200 = try SystemSpec.load(path: systemsDirectory + "/h200-8x.yaml")
        let h800 = try SystemSpec.load(path: systemsDirectory + "/h800-8x-ib400.yaml")
        return try h200Experts(dataDirectory: dataDirectory, system: h200)
            + [try h200OtherPhases(dataDirectory: dataDirectory, system: h200),
               try deepEPNormal(dataDirectory: dataDirectory, system: h800)]
    }

    /// experts_per_rank.json, one table per execution mode (the system's device with
    /// `execution` set to that mode; the balanced cases fitted `loop_expert_us`,
    /// `grouped_efficiency` and `grouped_host_us`), and layouts.json per run (every rank,
    /// loop).
    public static func h200Experts(dataDirectory: String, system: SystemSpec) throws(ConfigError) -> [ValidationTable] {
        let path = dataDirectory + "/experts_per_rank.json"
        let doc = try readJSON(path)
        guard let cases = doc["cases"] as? [[String: Any]] else { throw ConfigError(file: path, keyPath: "cases", "expected a list of cases") }
        var tables: [ValidationTable] = []
        for mode in ExecutionMode.allCases {
            var device = system.device
            device.execution = mode
            let model = DeviceModel(device: device)
            var rows: [ValidationRow] = []
            for (i, c) in cases.enumerated() {
                let key = "cases[\(i)]"
                let h = try int(c, "H", path, key), f = try int(c, "F", path, key)
                let expertRows = try ints(c, "rows", path, key)
                let measured = try number(c, mode.rawValue + "_ms", path, key)
                let skew = c["skew"] as? String ?? "?"
                let label = "\(c["shape"] as? String ?? "?") \(expertRows.count)×\(c["mean_rows"] as? Int ?? 0) \(skew)"
                let modeled = model.expertSeconds(rows: expertRows, hidden: h, ffn: f, activation: .swiglu) * 1e3
                rows.append(ValidationRow(label: label, measured: measured, modeled: modeled,
                                          fitted: mode != .graph && skew == "balanced"))
            }
            tables.append(ValidationTable(title: "H200 expert phase, \(mode.rawValue) (experts_per_rank.json)", unit: "ms",
                                          rows: rows, bound: 0.10))
        }
        let lpath = dataDirectory + "/layouts.json"
        let ldoc = try readJSON(lpath)
        guard let runs = ldoc["runs"] as? [[String: Any]] else { throw ConfigError(file: lpath, keyPath: "runs", "expected a list of runs") }
        var device = system.device
        device.execution = .loop
        let model = DeviceModel(device: device)
        for (i, run) in runs.enumerated() {
            let key = "runs[\(i)]"
            let h = try int(run, "H", lpath, key), f = try int(run, "F", lpath, key)
            guard let ranks = run["ranks"] as? [[String: Any]] else { throw ConfigError(file: lpath, keyPath: key + ".ranks", "expected a list") }
            var rows: [ValidationRow] = []
            for (j, r) in ranks.enumerated() {
                let rk = "\(key).ranks[\(j)]"
                let expertRows = try ints(r, "rows", lpath, rk)
                let measured = try number(r, "measured_loop_ms", lpath, rk)
                let modeled = model.expertSeconds(rows: expertRows, hidden: h, ffn: f, activation: .swiglu) * 1e3
                rows.append(ValidationRow(label: "rank \(r["rank"] as? Int ?? j)", measured: measured, modeled: modeled, fitted: false))
            }
            tables.append(ValidationTable(title: "H200 expert phase per rank, loop: \(run["layout"] as? String ?? key) (layouts.json)",
                                          unit: "ms", rows: rows, bound: 0.10))
        }
        return tables
    }

    /// layouts.json's other_phases_ms_one_rank: route (gate GEMM, sigmoid, top-k of the
    /// rank's T tokens), permute (gather of T·k bf16 rows), unpermute (fp32 scatter-add of
    /// T·k rows), shared (one SwiGLU expert on T tokens). T = rows / k: DeepSeek-V3 run
    /// 512 tokens, top-8, 8 groups; Mixtral run 4096 tokens, top-2.
    public static func h200OtherPhases(dataDirectory: String, system: SystemSpec) throws(ConfigError) -> ValidationTable {
        let path = dataDirectory + "/layouts.json"
        let doc = try readJSON(path)
        guard let runs = doc["runs"] as? [[String: Any]] else { throw ConfigError(file: path, keyPath: "runs", "expected a list of runs") }
        let model = DeviceModel(device: system.device)
        var rows: [ValidationRow] = []
        for (i, run) in runs.enumerated() {
            let key = "runs[\(i)]"
            let h = try int(run, "H", path, key), f = try int(run, "F", path, key), e = try int(run, "E", path, key)
            guard let phases = run["other_phases_ms_one_rank"] as? [String: Any] else {
                throw ConfigError(file: path, keyPath: key + ".other_phases_ms_one_rank", "expected a mapping")
            }
            // The runs' settings (layouts.json "layout"; configs/scale/deepseek-v3-64.yaml).
            let deepseek = h == 7168
            let (tokens, topK, groups) = deepseek ? (512, 8, 8) : (4096, 2, 1)
            let name = deepseek ? "deepseek-v3 T=512" : "mixtral T=4096"
            let rowsKept = tokens * topK
            for phase in ["route", "permute", "unpermute", "shared"] {
                guard let measured = phases[phase] as? Double else { continue }
                let seconds: Double
                switch phase {
                case "route": seconds = model.routeSeconds(tokens: tokens, hidden: h, experts: e, groups: groups)
                case "permute": seconds = model.permuteSeconds(rows: rowsKept, hidden: h, wireRowBytes: 2 * h)
                case "unpermute": seconds = model.unpermuteSeconds(rows: rowsKept, hidden: h, combineRowBytes: 4 * h)
                default: seconds = model.sharedSeconds(tokens: tokens, hidden: h, ffn: f, sharedExperts: 1, activation: .swiglu)
                }
                rows.append(ValidationRow(label: "\(name) \(phase)", measured: measured, modeled: seconds * 1e3,
                                          fitted: deepseek ? phase == "unpermute" : phase == "route"))
            }
        }
        return ValidationTable(title: "H200 route, permute, unpermute, shared (layouts.json)", unit: "ms", rows: rows, bound: 0.25)
    }

    /// DeepEP's normal kernels (deepep-normal.json): the traffic of its tests
    /// (`DeepEPTraffic`, seed 1) on `system` (h800-8x-ib400: hierarchical), and DeepEP's
    /// counted bytes on rank 0 over the modeled phase time. The EP8 dispatch row fitted the
    /// NVLink efficiency and the EP32 dispatch row the NIC efficiency.
    public static func deepEPNormal(dataDirectory: String, system: SystemSpec) throws(ConfigError) -> ValidationTable {
        let path = dataDirectory + "/deepep-normal.json"
        let doc = try readJSON(path)
        guard let entries = doc["rows"] as? [[String: Any]] else { throw ConfigError(file: path, keyPath: "rows", "expected a list") }
        var rows: [ValidationRow] = []
        for (i, entry) in entries.enumerated() {
            let key = "rows[\(i)]"
            let ep = try int(entry, "ep", path, key)
            let traffic = DeepEPTraffic(ranks: ep, devicesPerNode: system.devicesPerNode)
            let kind = traffic.internode ? "RDMA" : "NVL"
            for (exchange, name) in [(AllToAllModel.Exchange.dispatch, "dispatch"), (.combine, "combine")] {
                let measured = try number(entry, name + "_gbps", path, key)
                let a = AllToAllModel.evaluate(traffic.step, chunk: 0, exchange: exchange, shape: traffic.shape, system: system)
                let counted = exchange == .dispatch ? traffic.countedDispatchBytes : traffic.countedCombineBytes
                let modeled = a.seconds > 0 ? Double(counted) / a.seconds / 1e9 : 0
                rows.append(ValidationRow(label: "EP\(ep) \(name) (\(kind), bound by \(a.busiestLink))", measured: measured,
                                          modeled: modeled, fitted: exchange == .dispatch && (ep == 8 || ep == 32)))
            }
        }
        return ValidationTable(title: "DeepEP normal kernels on \(system.name) (deepep-normal.json)", unit: "GB/s", rows: rows, bound: 0.20)
    }

    // MARK: JSON

    static func readJSON(_ path: String) throws(ConfigError) -> [String: Any] {
        let bytes: [UInt8]
        switch BoundedRead.bytes(path, limit: 16 << 20) {
        case let .success(b): bytes = b
        case let .failure(.unreadable(reason)): throw ConfigError(file: path, keyPath: "", "cannot read file: \(reason)")
        case let .failure(.tooLarge(limit)): throw ConfigError(file: path, keyPath: "", "larger than \(mebibytes(limit))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let doc = object as? [String: Any] else {
            throw ConfigError(file: path, keyPath: "", "not a JSON object")
        }
        return doc
    }

    static func number(_ o: [String: Any], _ k: String, _ path: String, _ at: String) throws(ConfigError) -> Double {
        if let d = o[k] as? Double { return d }
        if let i = o[k] as? Int { return Double(i) }
        throw ConfigError(file: path, keyPath: at + "." + k, "expected a number")
    }

    static func int(_ o: [String: Any], _ k: String, _ path: String, _ at: String) throws(ConfigError) -> Int {
        guard let i = o[k] as? Int else { throw ConfigError(file: path, keyPath: at + "." + k, "expected an integer") }
        return i
    }

    static func ints(_ o: [String: Any], _ k: String, _ path: String, _ at: String) throws(ConfigError) -> [Int] {
        guard let xs = o[k] as? [Int] else { throw ConfigError(file: path, keyPath: at + "." + k, "expected a list of integers") }
        return xs
    }
}
