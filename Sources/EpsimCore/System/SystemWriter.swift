/// The system file a `SystemSpec` is read from, written back as YAML (what `epsim
/// calibrate` produces). The keys are the loader's, one for one:
///
///     name, devices_per_node, rank_map (only when set),
///     device: {bf16_tflops, gemm_efficiency, hbm_gbps, launch_us, the optional costs
///              (kernel_us, loop_expert_us, grouped_efficiency, grouped_host_us,
///              scatter_efficiency, gate_gemm_efficiency, permute_row_ns, unpermute_row_ns,
///              compute_bytes: only when not their defaults), execution,
///              efficiency (only when set): [{rows, hidden, ffn, ms}],
///              copy_rates (only when set): [{bytes, gbps}]},
///     intra_node: {gbps, efficiency, latency_us, sweep (only when set): [{bytes, us}],
///                  after_experts (only when set): {gbps, latency_us, sweep (only when
///                  set)}}, inter_node: {…}, all_to_all
///
/// Numbers are written so that they read back as the same `Double` (the shortest
/// round-trip digits, always with a decimal point, so YAML resolves them as floats).
extension SystemSpec {
    /// The YAML text: `header` as comment lines ("# " before each; an embedded newline
    /// starts a new comment line), then the keys.
    public func yamlText(header: [String]) -> String {
        var lines: [String] = []
        for line in header {
            for piece in line.split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append(piece.isEmpty ? "#" : "# " + piece)
            }
        }
        lines.append("name: " + SystemFileScalar.string(name))
        lines.append("devices_per_node: \(devicesPerNode)")
        if let rankMap {
            lines.append("rank_map: [" + rankMap.map(String.init).joined(separator: ", ") + "]")
        }
        lines.append("device:")
        lines.append("  bf16_tflops: " + SystemFileScalar.number(device.bf16TFLOPS))
        lines.append("  gemm_efficiency: " + SystemFileScalar.number(device.gemmEfficiency))
        lines.append("  hbm_gbps: " + SystemFileScalar.number(device.hbmGBps))
        lines.append("  launch_us: " + SystemFileScalar.number(device.launchMicros))
        // The model's optional kernel and host costs, written only when not their defaults.
        let defaults = DeviceSpec(bf16TFLOPS: 1, hbmGBps: 1, launchMicros: 0, execution: .loop)
        for (key, value, base) in [("kernel_us", device.kernelMicros, defaults.kernelMicros),
                                   ("loop_expert_us", device.loopExpertMicros, defaults.loopExpertMicros),
                                   ("grouped_efficiency", device.groupedEfficiency, defaults.groupedEfficiency),
                                   ("grouped_host_us", device.groupedHostMicros, defaults.groupedHostMicros),
                                   ("scatter_efficiency", device.scatterEfficiency, defaults.scatterEfficiency),
                                   ("gate_gemm_efficiency", device.gateGemmEfficiency, defaults.gateGemmEfficiency),
                                   ("permute_row_ns", device.permuteRowNanos, defaults.permuteRowNanos),
                                   ("unpermute_row_ns", device.unpermuteRowNanos, defaults.unpermuteRowNanos)]
            where value != base {
            lines.append("  \(key): " + SystemFileScalar.number(value))
        }
        if device.computeBytes != defaults.computeBytes { lines.append("  compute_bytes: \(device.computeBytes)") }
        lines.append("  execution: " + device.execution.rawValue)
        if let points = device.efficiency {
            lines.append("  efficiency:" + (points.isEmpty ? " []" : ""))
            for p in points {
                lines.append("    - {rows: \(p.rows), hidden: \(p.hidden), ffn: \(p.ffn), ms: "
                             + SystemFileScalar.number(p.milliseconds) + "}")
            }
        }
        if let points = device.copyRates, !points.isEmpty {
            lines.append("  copy_rates:")
            for p in points {
                lines.append("    - {bytes: \(p.bytes), gbps: " + SystemFileScalar.number(p.gbps) + "}")
            }
        }
        for (key, link) in [("intra_node", intraNode), ("inter_node", interNode)] {
            lines.append(key + ":")
            lines.append("  gbps: " + SystemFileScalar.number(link.gbps))
            lines.append("  efficiency: " + SystemFileScalar.number(link.efficiency))
            lines.append("  latency_us: " + SystemFileScalar.number(link.latencyMicros))
            lines += Self.sweepLines(link.sweep, indent: "  ")
            if let cost = link.afterExperts {
                if cost.sweep == nil {
                    lines.append("  after_experts: {gbps: " + SystemFileScalar.number(cost.gbps) + ", latency_us: "
                                 + SystemFileScalar.number(cost.latencyMicros) + "}")
                } else {
                    lines.append("  after_experts:")
                    lines.append("    gbps: " + SystemFileScalar.number(cost.gbps))
                    lines.append("    latency_us: " + SystemFileScalar.number(cost.latencyMicros))
                    lines += Self.sweepLines(cost.sweep, indent: "    ")
                }
            }
        }
        lines.append("all_to_all: " + allToAll.rawValue)
        return lines.joined(separator: "\n") + "\n"
    }

    /// A link's `sweep:` key and its points, one per line (none when unset).
    private static func sweepLines(_ sweep: [LinkTimePoint]?, indent: String) -> [String] {
        guard let sweep, !sweep.isEmpty else { return [] }
        return [indent + "sweep:"] + sweep.map { p in
            indent + "  - {bytes: \(p.bytes), us: " + SystemFileScalar.number(p.micros) + "}"
        }
    }
}

/// YAML scalars as the system file writes them.
enum SystemFileScalar {
    /// A `Double` that reads back exactly: Swift's shortest round-trip digits, with a
    /// decimal point added where they have none ("1e-05" becomes "1.0e-05": YAML 1.1
    /// resolves an exponent without a point as a string); ±.inf and .nan for the rest.
    static func number(_ x: Double) -> String {
        if x.isNaN { return ".nan" }
        if x.isInfinite { return x < 0 ? "-.inf" : ".inf" }
        var text = "\(x)"
        if !text.contains(".") {
            if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
                text.insert(contentsOf: ".0", at: e)
            } else {
                text += ".0"
            }
        }
        return text
    }

    /// A string as a plain scalar when that reads back as the same string, else
    /// double-quoted with JSON-style escapes.
    static func string(_ s: String) -> String {
        let safe = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-" || c == "."
        }
        // Words and numbers YAML would resolve to another type.
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"]
        let looksNumeric = s.first.map { $0.isNumber || $0 == "-" || $0 == "." || $0 == "+" } ?? false
        if safe && !reserved.contains(s.lowercased()) && !looksNumeric { return s }
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    let hex = String(c.value, radix: 16)
                    out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}

extension SystemSpec {
    /// A fingerprint of everything the model reads (the canonical text `yamlText`
    /// writes, without a header; FNV-1a, 64 bits, hex): two files with the same name and
    /// different numbers (two calibrations of one host) differ here.
    public var digest: String {
        var copy = self
        copy.sourcePath = nil
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in copy.yamlText(header: []).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
