import EpsimCore

/// Moves accepted assignments to the ranks that hold their experts and brings the
/// expert outputs back, in Megatron-Core's stages:
///
/// - dispatch preprocess: bucket accepted slots by destination rank and, within a rank,
///   by local expert; encode their token rows into one send buffer (wire precision);
/// - token dispatch: all-to-all of the per-(rank, expert) row counts, then all-to-allv
///   of the payload;
/// - dispatch postprocess: decode into expert-major order, so each local expert's rows
///   are contiguous, ready for one GEMM per expert;
/// - combine preprocess: encode expert outputs back into source-major order;
/// - token combine: the reverse all-to-allv;
/// - combine postprocess (unpermute): for every token, add weight · output of each of
///   its surviving slots, in slot order (so the sum does not depend on the layout).
///
/// Pre- and post-stages never communicate. Buffers are allocated once and grown only
/// when a step needs more rows than any before.
public final class TokenDispatcher {
    public let layout: ExpertLayout
    public let rank: Int
    public let hidden: Int
    public let topK: Int
    public let dispatchPrecision: WirePrecision
    public let combinePrecision: WirePrecision
    public let handle: DispatchHandle
    public let dispatchRowBytes: Int
    public let combineRowBytes: Int

    private let sendBuffer = WireBuffer()
    private let recvBuffer = WireBuffer()
    /// Expert-major input rows [recvRows × H], then (in place of nothing) outputs come
    /// from the caller's buffer of the same shape.
    public private(set) var expertInput: [Float] = []
    private var cursor: [Int]
    private var scratchRow: [Float]

    public init(layout: ExpertLayout, rank: Int, hidden: Int, topK: Int,
                dispatch: WirePrecision, combine: WirePrecision) {
        self.layout = layout
        self.rank = rank
        self.hidden = hidden
        self.topK = topK
        dispatchPrecision = dispatch
        combinePrecision = combine
        let maxLocal = max(1, layout.local.map(\.count).max() ?? 1)
        handle = DispatchHandle(ranks: layout.ranks, maxLocalExperts: maxLocal)
        dispatchRowBytes = WireCodec.bytesPerRow(dispatch, hidden: hidden)
        combineRowBytes = WireCodec.bytesPerRow(combine, hidden: hidden)
        cursor = Array(repeating: 0, count: layout.ranks * maxLocal)
        scratchRow = Array(repeating: 0, count: hidden)
    }

    /// Number of local experts on this rank.
    public var localExperts: Int { layout.local[rank].count }

    // MARK: dispatch

    /// Dispatch preprocess: buckets and packs this rank's accepted slots.
    /// `x` [T × H] are the layer's input rows.
    /// With `tokens`, only the slots of those tokens are dispatched (one chunk of an
    /// overlapped layer); `combinePostprocess` must then be given the same range.
    public func dispatchPreprocess(x: UnsafeBufferPointer<Float>, decisions d: RoutingDecisions,
                                   tokens: Range<Int>? = nil) {
        let h = handle, P = layout.ranks, L = h.maxLocalExperts, n = d.assignments
        let slots = tokens.map { ($0.lowerBound * topK)..<($0.upperBound * topK) } ?? 0..<n
        assert(x.count >= d.tokens * hidden && slots.upperBound <= n)
        for i in 0..<(P * L) { h.sendSegments[i] = 0 }
        var rows = 0
        for a in slots where d.destRank[a] >= 0 {
            h.sendSegments[Int(d.destRank[a]) * L + Int(d.destLocal[a])] += 1
            rows += 1
        }
        h.sendRows = rows
        var offset = 0
        for p in 0..<P {
            h.sendRowDispls[p] = offset
            for l in 0..<L {
                cursor[p * L + l] = offset
                offset += h.sendSegments[p * L + l]
            }
            h.sendRowCounts[p] = offset - h.sendRowDispls[p]
        }
        if h.sendSlot.count < rows { h.sendSlot = Array(repeating: 0, count: rows) }
        if h.rowOfSlot.count != n { h.rowOfSlot = Array(repeating: -1, count: n) }
        for a in slots {
            guard d.destRank[a] >= 0 else {
                h.rowOfSlot[a] = -1
                continue
            }
            let s = Int(d.destRank[a]) * L + Int(d.destLocal[a])
            let row = cursor[s]
            cursor[s] += 1
            h.sendSlot[row] = Int32(a)
            h.rowOfSlot[a] = Int32(row)
        }
        let rowBytes = dispatchRowBytes
        // Sized for the return trip too (combine rows come back into this buffer), so
        // no later grow can replace it and lose the packed rows.
        sendBuffer.reserve(bytes: rows * max(rowBytes, combineRowBytes))
        let k = topK, H = hidden, precision = dispatchPrecision
        h.sendSlot.withUnsafeBufferPointer { slots in
            sendBuffer.withUnsafeMutableBytes { out in
                for i in 0..<rows {
                    let t = Int(slots[i]) / k
                    WireCodec.encodeRow(precision, src: x.baseAddress! + t * H, hidden: H,
                                        dst: out.baseAddress! + i * rowBytes)
                }
            }
        }
    }

    /// Token dispatch: exchanges the segment counts, then the payload. Returns the bytes
    /// this rank sent to each peer (self included).
    public func tokenDispatch(transport: any Transport) throws {
        try exchangeCounts(transport: transport)
        try dispatchPayload(transport: transport, blocking: true)
    }

    /// Token dispatch, first half: the all-to-all of segment counts (blocking, small);
    /// sizes the receive buffer.
    public func exchangeCounts(transport: any Transport) throws {
        let h = handle, P = layout.ranks, L = h.maxLocalExperts
        try h.sendSegments.withUnsafeBufferPointer { send in
            try h.recvSegments.withUnsafeMutableBufferPointer { recv in
                try transport.alltoallv(send: send, sendCounts: h.segmentCounts, sendDispls: h.segmentDispls,
                                        recv: recv, recvCounts: h.segmentCounts, recvDispls: h.segmentDispls)
            }
        }
        var offset = 0
        for q in 0..<P {
            h.recvRowDispls[q] = offset
            for l in 0..<L { offset += h.recvSegments[q * L + l] }
            h.recvRowCounts[q] = offset - h.recvRowDispls[q]
        }
        h.recvRows = offset
        recvBuffer.reserve(bytes: offset * max(dispatchRowBytes, combineRowBytes))
    }

    /// Token dispatch, second half: starts the payload all-to-allv. Neither buffer of
    /// this dispatcher may be touched until the request's `wait()` has returned.
    public func startDispatch(transport: any Transport) throws -> ExchangeRequest {
        try dispatchPayload(transport: transport, blocking: false)!
    }

    /// The dispatch payload: packed rows out of the send buffer into the receive buffer.
    @discardableResult
    private func dispatchPayload(transport: any Transport, blocking: Bool) throws -> ExchangeRequest? {
        try exchange(sendRows: handle.sendRowCounts, sendDispls: handle.sendRowDispls,
                     recvRows: handle.recvRowCounts, recvDispls: handle.recvRowDispls,
                     rowBytes: dispatchRowBytes, send: sendBuffer, recv: recvBuffer, transport: transport,
                     blocking: blocking)
    }

    /// Dispatch postprocess: orders the received rows expert-major (`expertRowSource`),
    /// fills `tokensPerExpert`, and with `decode` (the default) decodes the rows into
    /// `expertInput`. Modeled compute needs no input rows and skips the decode.
    public func dispatchPostprocess(decode: Bool = true) {
        let h = handle, P = layout.ranks, L = h.maxLocalExperts, H = hidden
        if h.expertRowSource.count < h.recvRows { h.expertRowSource = Array(repeating: 0, count: h.recvRows) }
        if decode { LargeBuffer.grow(&expertInput, to: h.recvRows * H) }
        var i = 0
        for l in 0..<L {
            h.tokensPerExpert[l] = 0
            for q in 0..<P {
                var position = h.recvRowDispls[q]
                for l2 in 0..<l { position += h.recvSegments[q * L + l2] }
                let count = h.recvSegments[q * L + l]
                for r in 0..<count {
                    h.expertRowSource[i] = Int32(position + r)
                    i += 1
                }
                h.tokensPerExpert[l] += count
            }
        }
        guard decode else { return }
        let rowBytes = dispatchRowBytes, precision = dispatchPrecision, rows = h.recvRows
        h.expertRowSource.withUnsafeBufferPointer { source in
            recvBuffer.withUnsafeBytes { input in
                expertInput.withUnsafeMutableBufferPointer { out in
                    for i in 0..<rows {
                        WireCodec.decodeRow(precision, src: input.baseAddress! + Int(source[i]) * rowBytes,
                                            hidden: H, dst: out.baseAddress! + i * H)
                    }
                }
            }
        }
    }

    // MARK: combine

    /// Combine preprocess: encodes expert outputs `y` [recvRows × H] (expert-major, as
    /// `expertInput`) into source-major order for the return trip.
    public func combinePreprocess(expertOutput y: UnsafeBufferPointer<Float>) {
        let h = handle, H = hidden, rowBytes = combineRowBytes, precision = combinePrecision
        assert(y.count >= h.recvRows * H)
        recvBuffer.reserve(bytes: h.recvRows * rowBytes)
        let rows = h.recvRows
        h.expertRowSource.withUnsafeBufferPointer { source in
            recvBuffer.withUnsafeMutableBytes { out in
                for i in 0..<rows {
                    WireCodec.encodeRow(precision, src: y.baseAddress! + i * H, hidden: H,
                                        dst: out.baseAddress! + Int(source[i]) * rowBytes)
                }
            }
        }
    }

    /// Combine preprocess for modeled compute, whose expert outputs are zero: the return
    /// rows are all-zero bytes (which every wire format decodes to 0).
    public func combinePreprocessZeros() {
        let bytes = handle.recvRows * combineRowBytes
        recvBuffer.reserve(bytes: bytes)
        recvBuffer.withUnsafeMutableBytes { out in
            if bytes > 0 { out.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
        }
    }

    /// Token combine: sends every output row back to the rank its token lives on.
    public func tokenCombine(transport: any Transport) throws {
        try combinePayload(transport: transport, blocking: true)
    }

    /// Starts the combine all-to-allv.
    public func startCombine(transport: any Transport) throws -> ExchangeRequest {
        try combinePayload(transport: transport, blocking: false)!
    }

    /// The combine payload. The return trip reuses the dispatch buffers: outputs go out
    /// from the receive buffer and come back into the send buffer.
    @discardableResult
    private func combinePayload(transport: any Transport, blocking: Bool) throws -> ExchangeRequest? {
        let h = handle
        return try exchange(sendRows: h.recvRowCounts, sendDispls: h.recvRowDispls,
                            recvRows: h.sendRowCounts, recvDispls: h.sendRowDispls,
                            rowBytes: combineRowBytes, send: recvBuffer, recv: sendBuffer, transport: transport,
                            blocking: blocking)
    }

    /// Combine postprocess (unpermute): `out[t] += weight[a] · row(a)` for every surviving
    /// slot a of token t, in slot order. `out` [T × H] must already hold whatever the
    /// layer adds to (the residual and shared experts, or zeros).
    public func combinePostprocess(decisions d: RoutingDecisions, into out: UnsafeMutableBufferPointer<Float>,
                                   tokens: Range<Int>? = nil) {
        let h = handle, H = hidden, k = topK, rowBytes = combineRowBytes, precision = combinePrecision
        let range = tokens ?? 0..<d.tokens
        assert(out.count >= d.tokens * H && range.upperBound <= d.tokens)
        h.rowOfSlot.withUnsafeBufferPointer { rowOf in
            sendBuffer.withUnsafeBytes { rows in
                scratchRow.withUnsafeMutableBufferPointer { row in
                    d.weight.withUnsafeBufferPointer { weight in
                        for t in range {
                            let y = out.baseAddress! + t * H
                            for j in 0..<k {
                                let a = t * k + j
                                let i = Int(rowOf[a])
                                guard i >= 0 else { continue }
                                WireCodec.decodeRow(precision, src: rows.baseAddress! + i * rowBytes,
                                                    hidden: H, dst: row.baseAddress!)
                                let w = weight[a]
                                for c in 0..<H { y[c] += w * row[c] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The wire buffers (send, then receive), for benchmarks that time bare exchanges
    /// and copies on the very memory the layer used. Nothing may be in flight.
    public func withWireBuffers<R>(_ body: (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try sendBuffer.withUnsafeMutableBytes { s in
            try recvBuffer.withUnsafeMutableBytes { r in try body(s, r) }
        }
    }

    // MARK: helpers

    /// A payload exchange of whole rows: counts and displacements in rows, converted to
    /// bytes. Blocking, it returns nil once complete; otherwise it returns the request,
    /// and the buffers (the dispatcher's own arrays, which are not resized or copied
    /// while the exchange is in flight) must not be touched until it completes.
    @discardableResult
    private func exchange(sendRows: [Int], sendDispls: [Int], recvRows: [Int], recvDispls: [Int],
                          rowBytes: Int, send: WireBuffer, recv: WireBuffer,
                          transport: any Transport, blocking: Bool) throws -> ExchangeRequest? {
        let h = handle
        for p in 0..<layout.ranks {
            h.sendBytes[p] = sendRows[p] * rowBytes
            h.sendByteDispls[p] = sendDispls[p] * rowBytes
            h.recvBytes[p] = recvRows[p] * rowBytes
            h.recvByteDispls[p] = recvDispls[p] * rowBytes
        }
        if blocking {
            try send.withUnsafeMutableBytes { s in
                try recv.withUnsafeMutableBytes { r in
                    try transport.alltoallv(send: UnsafeBufferPointer(s.bindMemory(to: UInt8.self)),
                                            sendCounts: h.sendBytes, sendDispls: h.sendByteDispls,
                                            recv: r.bindMemory(to: UInt8.self),
                                            recvCounts: h.recvBytes, recvDispls: h.recvByteDispls)
                }
            }
            return nil
        }
        return try transport.ialltoallv(send: send, sendCounts: h.sendBytes, sendDispls: h.sendByteDispls,
                                        recv: recv, recvCounts: h.recvBytes, recvDispls: h.recvByteDispls)
    }
}
