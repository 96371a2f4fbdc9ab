/// What one rank exchanged and computed during the steps it recorded: the shapes
/// `epsim bench` replays as bare baselines (all-to-allv of the same byte matrices, sgemm
/// of the same sizes, memcpy of the same bytes).
public final class StepShapes {
    public enum Kind: Sendable { case dispatch, combine }

    /// One payload exchange: bytes to and from each peer and their offsets in the wire
    /// buffers ([P] each), as the layer passed them.
    public struct Exchange: Sendable {
        public var kind: Kind
        public var chunk: Int
        public var sendBytes: [Int]
        public var sendDispls: [Int]
        public var recvBytes: [Int]
        public var recvDispls: [Int]

        /// The exchange `handle` has just started.
        init(kind: Kind, chunk: Int, handle h: DispatchHandle) {
            self.kind = kind
            self.chunk = chunk
            sendBytes = h.sendBytes
            sendDispls = h.sendByteDispls
            recvBytes = h.recvBytes
            recvDispls = h.recvByteDispls
        }
    }

    /// One local expert's block: `rows` tokens through its FFN.
    public struct ExpertBlock: Sendable {
        public var layer: Int
        public var chunk: Int
        public var localExpert: Int
        public var rows: Int
    }

    public var exchanges: [Exchange] = []
    public var expertBlocks: [ExpertBlock] = []
    /// Bytes written by the permute stages (packing rows for the wire, decoding them into
    /// expert-major order) and by the unpermute stages (encoding outputs for the return
    /// trip, decoding them back to tokens).
    public var permuteBytes = 0
    public var unpermuteBytes = 0

    public init() {}
}
