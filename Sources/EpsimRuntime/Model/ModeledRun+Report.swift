import EpsimCore

/// The modeled figures in the terminal report: columns beside the measured phase table,
/// and the step's critical path, link split and bottleneck bandwidth.
extension ModeledRun {
    /// The modeled columns' header.
    var tableHeader: String {
        "\(label): " + "median ms".leftPadding(9) + "max ms".leftPadding(11) + "slowest rank".leftPadding(14)
    }

    /// The modeled columns of `phase`'s row (the step: its critical path; wait: none).
    func tableRow(_ phase: Phase) -> String {
        let lead = String(repeating: " ", count: label.count + 2)
        switch phase {
        case .step:
            return lead + String(format3: stepMs).leftPadding(9) + "(critical path)".leftPadding(26)
        case .wait:
            return lead + "-".leftPadding(9)
        default:
            guard let m = phase.modeled else { return lead }
            return lead + String(format3: medianMs(m)).leftPadding(9) + String(format3: maxMs(m)).leftPadding(11)
                + String(slowestRank(m)).leftPadding(14)
        }
    }

    /// The lines after the tables: the critical path, bytes by link class, bottleneck
    /// bandwidth and the busiest link.
    func summaryLines() -> [String] {
        let file = system.sourcePath.map { " (\($0))" } ?? ""
        let path = ModeledPhase.allCases.map { "\($0.rawValue) rank \(slowestRank($0))" }.joined(separator: " · ")
        return [
            "\(label)\(file): step \(String(format3: stepMs)) ms on the critical path"
                + " · communication \(percent(communicationShare)) of it"
                + " · \(system.allToAll.rawValue) all-to-all, \(system.device.execution.rawValue) experts",
            "  slowest rank per phase: " + path,
            "  bytes by link over \(steps.count) counted step\(steps.count == 1 ? "" : "s"): self \(byteText(selfBytes)) · intra-node \(byteText(intraNodeBytes))"
                + " · inter-node \(byteText(interNodeBytes)) (each hop counted, forwarding included; per rank in --output)"
                + " · busiest link \(busiestLink)"
                + " · bottleneck bandwidth dispatch \(String(format2: dispatchBottleneckGBps)) GB/s"
                + ", combine \(String(format2: combineBottleneckGBps)) GB/s",
            "  DeepEP's bandwidth (rank 0's \(nodeCount > 1 ? "RDMA bytes: (token, node) pairs" : "NVL bytes: rows received")"
                + " × row / exchange time, as its tests count it): dispatch \(String(format2: deepEPDispatchGBps)) GB/s"
                + ", combine \(String(format2: deepEPCombineGBps)) GB/s",
        ]
    }
}
