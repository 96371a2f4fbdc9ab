/// The data movement of a token dispatch and combine, as pure functions of the plans:
/// Megatron-Core's permute and unpermute, with rows crossing the wire in a wire format
/// (`WireCodec`). Nothing here communicates; the token dispatcher runs these between its
/// exchanges.
///
/// Row shapes: token rows `x` and layer outputs are [T × H] floats; wire rows are
/// `WireCodec.bytesPerRow(precision, hidden: H)` bytes each.
public enum TokenPermutation {
    /// Dispatch preprocess (permute): encodes the token row of every planned send row
    /// into `wire` [sendRows × rowBytes], in wire order.
    public static func permute(
        _ x: UnsafeBufferPointer<Float>, plan: DispatchPlan, topK: Int, hidden H: Int,
        precision: WirePrecision, into wire: UnsafeMutableRawBufferPointer
    ) {
        let rowBytes = WireCodec.bytesPerRow(precision, hidden: H), rows = plan.sendRows
        precondition(wire.count >= rows * rowBytes, "permute: wire buffer of \(wire.count) bytes, need \(rows * rowBytes)")
        precondition(x.count >= plan.tokens.upperBound * H, "permute: \(x.count) input values, need \(plan.tokens.upperBound) rows")
        plan.sendSlot.withUnsafeBufferPointer { slots in
            for i in 0..<rows {
                let t = Int(slots[i]) / topK
                WireCodec.encodeRow(precision, src: x.baseAddress! + t * H, hidden: H,
                                    dst: wire.baseAddress! + i * rowBytes)
            }
        }
    }

    /// Dispatch postprocess: decodes the received rows (source-major, as they arrived)
    /// into `rows` [recvRows × H] in expert-major order, so every local expert's rows
    /// are contiguous for one GEMM.
    public static func expertMajor(
        _ wire: UnsafeRawBufferPointer, plan: ReceivePlan, hidden H: Int, precision: WirePrecision,
        into rows: UnsafeMutableBufferPointer<Float>
    ) {
        let rowBytes = WireCodec.bytesPerRow(precision, hidden: H), n = plan.recvRows
        precondition(wire.count >= n * rowBytes && rows.count >= n * H, "expertMajor: buffers too small for \(n) rows")
        plan.expertRowSource.withUnsafeBufferPointer { source in
            for i in 0..<n {
                WireCodec.decodeRow(precision, src: wire.baseAddress! + Int(source[i]) * rowBytes,
                                    hidden: H, dst: rows.baseAddress! + i * H)
            }
        }
    }

    /// Combine preprocess: encodes expert outputs `y` [recvRows × H] (expert-major, as
    /// `expertMajor` laid out the inputs) back into source-major wire order in `wire`.
    public static func sourceMajor(
        _ y: UnsafeBufferPointer<Float>, plan: ReceivePlan, hidden H: Int, precision: WirePrecision,
        into wire: UnsafeMutableRawBufferPointer
    ) {
        let rowBytes = WireCodec.bytesPerRow(precision, hidden: H), n = plan.recvRows
        precondition(wire.count >= n * rowBytes && y.count >= n * H, "sourceMajor: buffers too small for \(n) rows")
        plan.expertRowSource.withUnsafeBufferPointer { source in
            for i in 0..<n {
                WireCodec.encodeRow(precision, src: y.baseAddress! + i * H, hidden: H,
                                    dst: wire.baseAddress! + Int(source[i]) * rowBytes)
            }
        }
    }

    /// Combine postprocess (unpermute): `out[t] += weight[a] · row(a)` for every
    /// surviving slot a of every planned token t, in slot order, where row(a) is the
    /// returned wire row `plan.rowOfSlot[a]`. `out` [T × H] already holds what the layer
    /// adds to (the residual and the shared experts). `scratch` holds one row [H].
    /// Summing in slot order makes the result independent of the layout.
    public static func unpermute(
        _ wire: UnsafeRawBufferPointer, plan: DispatchPlan, weights: [Float], topK k: Int, hidden H: Int,
        precision: WirePrecision, scratch: UnsafeMutableBufferPointer<Float>,
        into out: UnsafeMutableBufferPointer<Float>
    ) {
        let rowBytes = WireCodec.bytesPerRow(precision, hidden: H), tokens = plan.tokens
        precondition(out.count >= tokens.upperBound * H && scratch.count >= H, "unpermute: buffers too small")
        precondition(wire.count >= plan.sendRows * rowBytes, "unpermute: wire buffer too small")
        plan.rowOfSlot.withUnsafeBufferPointer { rowOf in
            weights.withUnsafeBufferPointer { weight in
                for t in tokens {
                    let y = out.baseAddress! + t * H
                    for j in 0..<k {
                        let a = t * k + j
                        let i = Int(rowOf[a])
                        guard i >= 0 else { continue }
                        WireCodec.decodeRow(precision, src: wire.baseAddress! + i * rowBytes,
                                            hidden: H, dst: scratch.baseAddress!)
                        let w = weight[a]
                        for c in 0..<H { y[c] += w * scratch[c] }
                    }
                }
            }
        }
    }
}
