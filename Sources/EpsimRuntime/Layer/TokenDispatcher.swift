import EpsimCore

/// Moves accepted assignments to the ranks that hold their experts and brings the
/// expert outputs back, with DeepEP's contract and Megatron-Core's stages:
///
/// - `dispatch(x:decisions:tokens:transport:)` returns the received rows, the rows per
///   local expert and a `DispatchHandle`; `combine(_:expertOutput:weights:into:transport:)`
///   consumes the handle. Between the two, the dispatcher cannot dispatch again.
/// - The same calls, stage by stage, for a layer that times or overlaps them:
///   dispatch preprocess (bucket and encode, `TokenPermutation.permute`), token dispatch
///   (all-to-all of the per-(rank, expert) counts, then all-to-allv of the payload),
///   dispatch postprocess (decode into expert-major order); combine preprocess (encode
///   outputs back into source-major order), token combine (the reverse all-to-allv),
///   combine postprocess (unpermute: weighted sum into the token rows, slot order).
///
/// With `dispatch.dedup: rank` a token travels once per destination rank with a
/// `DedupHeader` naming the local experts it feeds and their weights; combine
/// preprocess sums those experts' weighted outputs, so one row per (token, rank) comes
/// back and combine postprocess adds it unweighted.
///
/// Pre- and post-stages never communicate. Memory is allocated on first use and reused:
/// a dispatcher holds one `DispatchStorage`, lent to the handle from dispatch to combine.
public final class TokenDispatcher {
    public let layout: ExpertLayout
    public let rank: Int
    public let hidden: Int
    public let topK: Int
    public let dispatchPrecision: WirePrecision
    public let combinePrecision: WirePrecision
    public let dedup: DispatchDedup
    /// Bytes of one dispatch row on the wire: its `DedupHeader` (with dedup) and the
    /// encoded token row.
    public let dispatchRowBytes: Int
    public let combineRowBytes: Int
    /// Header bytes at the start of each dispatch row (8·k with dedup, else 0).
    public let headerBytes: Int
    /// Local-expert slots per rank in the segment counts: the most experts any rank holds.
    public let maxLocalExperts: Int
    /// The storage, while no handle holds it.
    private var idle: DispatchStorage?
    private var scratchRow: [Float]
    /// Segment-count exchange: L entries per peer (L + 1 with dedup).
    private let segmentCounts: [Int]
    private let segmentDispls: [Int]
    /// Send and receive halves of `bareCountsExchange` (allocated on its first call).
    private var countsScratch: [Int] = []

    public init(layout: ExpertLayout, rank: Int, hidden: Int, topK: Int,
                dispatch: WirePrecision, combine: WirePrecision, dedup: DispatchDedup = .none) {
        self.layout = layout
        self.rank = rank
        self.hidden = hidden
        self.topK = topK
        dispatchPrecision = dispatch
        combinePrecision = combine
        self.dedup = dedup
        headerBytes = dedup == .rank ? DedupHeader.bytes(topK: topK) : 0
        dispatchRowBytes = headerBytes + WireCodec.bytesPerRow(dispatch, hidden: hidden)
        combineRowBytes = WireCodec.bytesPerRow(combine, hidden: hidden)
        let L = max(1, layout.local.map(\.count).max() ?? 1)
        maxLocalExperts = L
        let storage = DispatchStorage(ranks: layout.ranks, maxLocalExperts: L, dedup: dedup)
        let W = storage.send.segmentWidth
        idle = storage
        scratchRow = Array(repeating: 0, count: hidden)
        segmentCounts = Array(repeating: W, count: layout.ranks)
        segmentDispls = (0..<layout.ranks).map { $0 * W }
    }

    /// Number of local experts on this rank.
    public var localExperts: Int { layout.local[rank].count }

    // MARK: the DeepEP-shaped calls

    /// Dispatch, all three stages, blocking: the slots of `tokens` (all when nil) of
    /// `decisions` carry rows of `x` [T × H] to their experts' ranks. With `decode`
    /// false the received rows are not decoded (`rows` is empty). Collective.
    public func dispatch(x: [Float], decisions: RoutingDecisions, tokens: Range<Int>? = nil,
                         decode: Bool = true, transport: any Transport) throws -> DispatchOutput {
        let handle = dispatchPreprocess(x: x, decisions: decisions, tokens: tokens)
        return dispatchPostprocess(try tokenDispatch(handle, transport: transport), decode: decode)
    }

    /// Combine, all three stages, blocking: sends `expertOutput` [expertRows × H]
    /// (expert-major, as `dispatch` returned the inputs; nil for all-zero outputs) back
    /// and adds `weights[a]` × row of every surviving slot a into `out` [T × H]. With
    /// dedup the weights that travelled in the dispatch headers apply and `weights` is
    /// not read. Consumes the handle. Collective.
    public func combine(_ handle: consuming DispatchHandle, expertOutput: [Float]?,
                        weights: [Float], into out: inout [Float],
                        transport: any Transport) throws {
        let encoded = combinePreprocess(handle, expertOutput: expertOutput)
        combinePostprocess(try tokenCombine(encoded, transport: transport), weights: weights, into: &out)
    }

    // MARK: dispatch, stage by stage

    /// Dispatch preprocess: plans the slots of `tokens` and encodes their rows of
    /// `x` [T × H] in wire order. Traps if the previous handle has not been combined.
    public func dispatchPreprocess(x: [Float], decisions: RoutingDecisions,
                                   tokens: Range<Int>? = nil) -> DispatchHandle {
        precondition(decisions.topK == topK, "TokenDispatcher: decisions of top-\(decisions.topK), dispatcher of top-\(topK)")
        guard var s = idle.take() else {
            preconditionFailure("TokenDispatcher: dispatch before the previous handle was combined")
        }
        s.send.plan(decisions, tokens: tokens)
        // Sized for the return trip too (combine rows come back into this buffer).
        s.sendWire.reserve(bytes: s.send.sendRows * max(dispatchRowBytes, combineRowBytes))
        let plan = s.send, k = topK, H = hidden, precision = dispatchPrecision
        x.withUnsafeBufferPointer { x in
            s.sendWire.withUnsafeMutableBytes { wire in
                TokenPermutation.permute(x, plan: plan, topK: k, hidden: H, precision: precision, into: wire)
            }
        }
        return DispatchHandle(storage: s)
    }

    /// Token dispatch, blocking: the segment counts, then the payload.
    public func tokenDispatch(_ handle: consuming DispatchHandle, transport: any Transport) throws -> DispatchHandle {
        try exchangeSegments(&handle, transport: transport)
        try exchange(&handle, .dispatch, transport: transport)
        return handle
    }

    /// Token dispatch, non-blocking payload: the segment counts (blocking, small), then
    /// the start of the payload exchange.
    public func startTokenDispatch(_ handle: consuming DispatchHandle, transport: any Transport) throws -> InFlightExchange {
        try exchangeSegments(&handle, transport: transport)
        return try start(handle, .dispatch, transport: transport)
    }

    /// Dispatch postprocess: the expert-major order of the received rows and, with
    /// `decode`, the rows themselves.
    public func dispatchPostprocess(_ handle: consuming DispatchHandle, decode: Bool = true) -> DispatchOutput {
        if dedup == .rank {
            let (stride, k) = (dispatchRowBytes, topK)
            handle.storage.recvWire.withUnsafeBytes { wire in
                handle.storage.receive.planExpertOrder(headers: wire, rowStride: stride, topK: k)
            }
        } else {
            handle.storage.receive.planExpertOrder()
        }
        let n = handle.storage.receive.expertRows, H = hidden
        if decode {
            LargeBuffer.grow(&handle.storage.rows, to: n * H)
            let plan = handle.storage.receive, precision = dispatchPrecision, header = headerBytes
            handle.storage.recvWire.withUnsafeBytes { wire in
                handle.storage.rows.withUnsafeMutableBufferPointer { rows in
                    TokenPermutation.expertMajor(wire, plan: plan, hidden: H, precision: precision,
                                                 headerBytes: header, into: rows)
                }
            }
        }
        let rows = decode ? handle.storage.rows : []
        return DispatchOutput(rows: rows, tokensPerExpert: handle.storage.receive.tokensPerExpert, handle: handle)
    }

    // MARK: combine, stage by stage

    /// Combine preprocess: encodes `expertOutput` [expertRows × H] (nil: all zeros, as
    /// modeled compute produces) into source-major wire order for the return trip; with
    /// dedup, one row per received row: its experts' outputs weighted and summed.
    public func combinePreprocess(_ handle: consuming DispatchHandle,
                                  expertOutput: [Float]?) -> DispatchHandle {
        let plan = handle.storage.receive, H = hidden, k = topK, precision = combinePrecision
        let bytes = plan.recvRows * combineRowBytes, summed = dedup == .rank
        handle.storage.recvWire.reserve(bytes: bytes)
        handle.storage.recvWire.withUnsafeMutableBytes { wire in
            if let expertOutput {
                expertOutput.withUnsafeBufferPointer { y in
                    if summed {
                        scratchRow.withUnsafeMutableBufferPointer { scratch in
                            TokenPermutation.sourceMajorSummed(y, plan: plan, topK: k, hidden: H, precision: precision,
                                                               scratch: scratch, into: wire)
                        }
                    } else {
                        TokenPermutation.sourceMajor(y, plan: plan, hidden: H, precision: precision, into: wire)
                    }
                }
            } else if bytes > 0 {
                // All-zero bytes decode to 0 in every wire format.
                wire.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            }
        }
        return handle
    }

    /// Token combine, blocking.
    public func tokenCombine(_ handle: consuming DispatchHandle, transport: any Transport) throws -> DispatchHandle {
        try exchange(&handle, .combine, transport: transport)
        return handle
    }

    /// Token combine, non-blocking.
    public func startTokenCombine(_ handle: consuming DispatchHandle, transport: any Transport) throws -> InFlightExchange {
        try start(handle, .combine, transport: transport)
    }

    /// Combine postprocess (unpermute): adds `weights[a]` × returned row of every
    /// surviving slot a of the handle's tokens into `out` [T × H], which already holds
    /// what the layer adds to (with dedup: each returned row once, already weighted).
    /// Consumes the handle; the dispatcher can dispatch again.
    public func combinePostprocess(_ handle: consuming DispatchHandle, weights: [Float],
                                   into out: inout [Float]) {
        let s = handle.storage
        let (k, H, precision) = (topK, hidden, combinePrecision)
        s.sendWire.withUnsafeBytes { wire in
            scratchRow.withUnsafeMutableBufferPointer { scratch in
                out.withUnsafeMutableBufferPointer { out in
                    TokenPermutation.unpermute(wire, plan: s.send, weights: weights, topK: k, hidden: H,
                                               precision: precision, scratch: scratch, into: out)
                }
            }
        }
        idle = s
    }

    // MARK: for benchmarks

    /// The count message of a token dispatch alone (the same all-to-all of
    /// `segmentWidth` integers per peer that `tokenDispatch` starts with), on scratch of
    /// its own: the bare exchange a benchmark compares the dispatch with. Collective.
    public func bareCountsExchange(transport: any Transport) throws {
        if countsScratch.count != 2 * segmentCounts.count * segmentCounts[0] {
            countsScratch = Array(repeating: 0, count: 2 * segmentCounts.count * segmentCounts[0])
        }
        let half = countsScratch.count / 2
        try countsScratch.withUnsafeMutableBufferPointer { both in
            let send = UnsafeBufferPointer(rebasing: both[0..<half])
            let recv = UnsafeMutableBufferPointer(rebasing: both[half...])
            try transport.alltoallv(send: send, sendCounts: segmentCounts, sendDispls: segmentDispls,
                                    recv: recv, recvCounts: segmentCounts, recvDispls: segmentDispls)
        }
    }

    /// The rows the last dispatch decoded, in the first expertRows × H values (empty
    /// before any; the array may be longer).
    public var lastDecodedRows: [Float] { idle?.rows ?? [] }

    // MARK: exchanges

    /// The all-to-all of segment counts (L per peer, L + 1 with dedup); sizes the
    /// receive side.
    private func exchangeSegments(_ handle: inout DispatchHandle, transport: any Transport) throws {
        let sent = handle.storage.send.sendSegments
        try sent.withUnsafeBufferPointer { send in
            try handle.storage.receive.recvSegments.withUnsafeMutableBufferPointer { recv in
                try transport.alltoallv(send: send, sendCounts: segmentCounts, sendDispls: segmentDispls,
                                        recv: recv, recvCounts: segmentCounts, recvDispls: segmentDispls)
            }
        }
        let rows = handle.storage.receive.planRows()
        handle.storage.recvWire.reserve(bytes: rows * max(dispatchRowBytes, combineRowBytes))
    }

    /// Sets the byte matrix of the `kind` payload from the plans and returns it with the
    /// buffers it goes out of and into (dispatch: send → receive buffer; combine: back).
    private func prepare(_ s: inout DispatchStorage, _ kind: ExchangeKind) -> (ExchangeBytes, WireBuffer, WireBuffer) {
        let send = s.send, receive = s.receive
        switch kind {
        case .dispatch:
            s.dispatchBytes.set(sendRows: send.sendRowCounts, sendDispls: send.sendRowDispls,
                                recvRows: receive.recvRowCounts, recvDispls: receive.recvRowDispls,
                                rowBytes: dispatchRowBytes)
        case .combine:
            s.combineBytes.set(sendRows: receive.recvRowCounts, sendDispls: receive.recvRowDispls,
                               recvRows: send.sendRowCounts, recvDispls: send.sendRowDispls,
                               rowBytes: combineRowBytes)
        }
        let (from, to) = s.wires(kind)
        return (s.bytes(kind), from, to)
    }

    private func exchange(_ handle: inout DispatchHandle, _ kind: ExchangeKind, transport: any Transport) throws {
        let (bytes, from, to) = prepare(&handle.storage, kind)
        try transport.alltoallv(send: from, recv: to, bytes: bytes)
    }

    private func start(_ handle: consuming DispatchHandle, _ kind: ExchangeKind,
                       transport: any Transport) throws -> InFlightExchange {
        let (b, from, to) = prepare(&handle.storage, kind)
        let request = try transport.ialltoallv(send: from, sendCounts: b.sendBytes, sendDispls: b.sendDispls,
                                               recv: to, recvCounts: b.recvBytes, recvDispls: b.recvDispls)
        return InFlightExchange(handle: handle, request: request)
    }

    /// The wire buffers of `kind`'s payload (going out, coming in), for benchmarks that
    /// time the bare exchange on the same memory. Traps while a handle is out.
    public func wires(_ kind: ExchangeKind) -> (WireBuffer, WireBuffer) {
        guard let s = idle else { preconditionFailure("TokenDispatcher: wire buffers asked for while a handle is out") }
        return s.wires(kind)
    }
}
