import EpsimCore

/// What one rank exchanged and computed during the steps it recorded: the shapes
/// `epsim bench` replays as bare baselines (all-to-allv of the same byte matrices, sgemm
/// of the same sizes, memcpy of the same bytes). A `StepObserver` that records only
/// while `recording` is set.
public final class StepShapes: StepObserver {
    public var recording = false
    /// The payload exchanges, as the layer handed them to the transport.
    public private(set) var exchanges: [ExchangeRecord] = []
    /// Blocks of rows through local experts (real compute only).
    public private(set) var expertBlocks: [ExpertBlock] = []
    /// Bytes written by the permute stages (packing rows for the wire, decoding them into
    /// expert-major order) and by the unpermute stages (encoding outputs for the return
    /// trip, decoding them back to tokens).
    public private(set) var permuteBytes = 0
    public private(set) var unpermuteBytes = 0
    private let hidden: Int
    private let decoded: Bool

    /// `decoded`: whether the layer decodes received rows (real compute).
    public init(hidden: Int, decoded: Bool) {
        self.hidden = hidden
        self.decoded = decoded
    }

    public func exchangeStarted(_ e: ExchangeRecord) {
        guard recording else { return }
        exchanges.append(e)
        let sent = e.bytes.sendBytes.reduce(0, +), received = e.bytes.recvBytes.reduce(0, +)
        switch e.kind {
        case .dispatch:
            // Packing the sent rows; decoding the received ones into floats.
            permuteBytes += sent + (decoded ? e.recvRows * hidden * MemoryLayout<Float>.stride : 0)
        case .combine:
            // Encoding the outputs sent back; decoding the rows that came back.
            unpermuteBytes += sent + received
        }
    }

    public func expertComputed(_ b: ExpertBlock) {
        if recording && decoded { expertBlocks.append(b) }
    }
}
