import EpsimCore

/// The routing dump (`--routing-out FILE`): JSON Lines, one object per
/// (step, layer, rank, token, slot), written by rank 0 in that order. The format is
/// documented in docs/semantics.md.
///
/// Each rank formats its own lines; one gather per (step, layer) brings them to rank 0,
/// which appends them to a temporary file renamed into place when the run ends.
public final class RoutingDump: StepObserver {
    private let writer: AtomicFile.Writer?
    private var buffer: [UInt8] = []

    /// Opens the destination on rank 0 (collectively checked by the caller, so a bad
    /// path fails before the run starts).
    public init(path: String, rank: Int) throws {
        writer = rank == 0 ? try AtomicFile.Writer(path: path) : nil
    }

    /// Formats this rank's decisions of one layer-step and sends them to rank 0.
    /// Collective: every rank calls it for every counted (step, layer).
    public func record(step: Int, layer: Int, rank: Int, chosen: UnsafeBufferPointer<Int32>,
                       decisions d: RoutingDecisions, transport: any Transport) throws {
        buffer.removeAll(keepingCapacity: true)
        let k = d.topK
        let prefix = "{\"step\":\(step),\"layer\":\(layer),\"rank\":\(rank),\"token\":"
        for a in 0..<d.assignments {
            let line = prefix + "\(a / k),\"slot\":\(a % k),\"first\":\(chosen[a]),\"final\":\(d.finalExpert[a])"
                + ",\"dest_rank\":\(d.destRank[a]),\"weight\":\(RoutingDump.number(d.weight[a]))"
                + ",\"outcome\":\"\(d.outcome[a])\"}\n"
            buffer.append(contentsOf: line.utf8)
        }
        let pieces = try transport.gatherBytes(buffer, root: 0)
        guard let writer else { return }
        for piece in pieces {
            try piece.withUnsafeBytes { try writer.append($0) }
        }
    }

    /// Records every layer of counted step `step` (collective).
    public func stepFinished(_ step: Int, rank moe: MoERank, transport: any Transport) throws {
        for layer in 0..<moe.config.model.layers {
            try moe.routed[layer].chosen.withUnsafeBufferPointer { chosen in
                try record(step: step, layer: layer, rank: transport.rank, chosen: chosen,
                           decisions: moe.decisions[layer], transport: transport)
            }
        }
    }

    /// A JSON number: Swift's shortest round-trip text for a finite float (e.g. `0.61`,
    /// `1e-05`), `null` for NaN or infinity, which JSON cannot write. (The router rejects
    /// non-finite logits, so weights are finite; the dump stays valid JSON regardless.)
    static func number(_ v: Float) -> String {
        v.isFinite ? "\(v)" : "null"
    }

    /// Renames the finished dump into place (rank 0; a no-op elsewhere).
    public func commit() throws {
        try writer?.commit()
    }
}
