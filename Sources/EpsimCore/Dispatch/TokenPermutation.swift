/// The data movement of a token dispatch and combine, as pure functions of the plans:
/// Megatron-Core's permute and unpermute, with rows crossing the wire in a wire format
/// (`WireCodec`). Nothing here communicates; the token dispatcher runs these between its
/// exchanges.
///
/// Row shapes: token rows `x` and layer outputs are [T × H] floats; wire rows are
/// `WireCodec.bytesPerRow(precision, hidden: H)` bytes each.
public enum TokenPermutation {
    /// Dispatch preprocess (permute): encodes the token row of every planned send row
    /// into `wire` [sendRows × (headerBytes + rowBytes)], in wire order; with dedup each
    /// row starts with its `DedupHeader` (the plan's `sendLocal` and `sendWeight`).
    /// A token is encoded once: its later rows copy the bytes of its first
    /// (`DispatchPlan.sendCopyOf`), which are the same bytes encoding would give.
    public static func permute(
        _ x: UnsafeBufferPointer<Float>, plan: DispatchPlan, topK: Int, hidden H: Int,
        precision: WirePrecision, into wire: UnsafeMutableRawBufferPointer
    ) {
        let header = plan.headerBytes
        let stride = header + WireCodec.bytesPerRow(precision, hidden: H), rows = plan.sendRows
        precondition(wire.count >= rows * stride, "permute: wire buffer of \(wire.count) bytes, need \(rows * stride)")
        precondition(x.count >= plan.tokens.upperBound * H, "permute: \(x.count) input values, need \(plan.tokens.upperBound) rows")
        let rowBytes = stride - header
        plan.sendSlot.withUnsafeBufferPointer { slots in
            plan.sendCopyOf.withUnsafeBufferPointer { copyOf in
                for i in 0..<rows {
                    let dst = wire.baseAddress! + i * stride + header
                    let first = Int(copyOf[i])
                    if first >= 0 {
                        dst.copyMemory(from: wire.baseAddress! + first * stride + header, byteCount: rowBytes)
                    } else {
                        let t = Int(slots[i]) / topK
                        WireCodec.encodeRow(precision, src: x.baseAddress! + t * H, hidden: H, dst: dst)
                    }
                }
            }
        }
        guard header > 0 else { return }
        plan.sendLocal.withUnsafeBufferPointer { local in
            plan.sendWeight.withUnsafeBufferPointer { weight in
                for i in 0..<rows {
                    DedupHeader.write(local: local.baseAddress! + i * topK, weight: weight.baseAddress! + i * topK,
                                      topK: topK, to: wire.baseAddress! + i * stride)
                }
            }
        }
    }

    /// Dispatch postprocess: decodes the received rows (source-major, as they arrived,
    /// each after `headerBytes` of header) into `rows` [expertRows × H] in expert-major
    /// order, so every local expert's rows are contiguous for one GEMM. With dedup a row
    /// is decoded once for each local expert it feeds.
    public static func expertMajor(
        _ wire: UnsafeRawBufferPointer, plan: ReceivePlan, hidden H: Int, precision: WirePrecision,
        headerBytes header: Int = 0, into rows: UnsafeMutableBufferPointer<Float>
    ) {
        let stride = header + WireCodec.bytesPerRow(precision, hidden: H), n = plan.expertRows
        precondition(wire.count >= plan.recvRows * stride && rows.count >= n * H,
                     "expertMajor: buffers too small for \(n) rows")
        plan.expertRowSource.withUnsafeBufferPointer { source in
            for i in 0..<n {
                WireCodec.decodeRow(precision, src: wire.baseAddress! + Int(source[i]) * stride + header,
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

    /// Combine preprocess with dedup: for every received row i (source-major), the sum
    /// over its header entries j, in slot order, of `recvWeight[i·k + j]` × the expert
    /// output `y` [expertRows × H] at `recvExpertRow[i·k + j]`, summed in float32 in
    /// `scratch` [H] and encoded as wire row i. One row goes back per received row.
    public static func sourceMajorSummed(
        _ y: UnsafeBufferPointer<Float>, plan: ReceivePlan, topK k: Int, hidden H: Int, precision: WirePrecision,
        scratch: UnsafeMutableBufferPointer<Float>, into wire: UnsafeMutableRawBufferPointer
    ) {
        let rowBytes = WireCodec.bytesPerRow(precision, hidden: H), n = plan.recvRows
        precondition(wire.count >= n * rowBytes && y.count >= plan.expertRows * H && scratch.count >= H,
                     "sourceMajorSummed: buffers too small for \(n) rows")
        plan.recvExpertRow.withUnsafeBufferPointer { expertRow in
            plan.recvWeight.withUnsafeBufferPointer { weight in
                for i in 0..<n {
                    for c in 0..<H { scratch[c] = 0 }
                    for j in 0..<k {
                        let e = Int(expertRow[i * k + j])
                        guard e >= 0 else { continue }
                        let w = weight[i * k + j], out = y.baseAddress! + e * H
                        for c in 0..<H { scratch[c] += w * out[c] }
                    }
                    WireCodec.encodeRow(precision, src: scratch.baseAddress!, hidden: H,
                                        dst: wire.baseAddress! + i * rowBytes)
                }
            }
        }
    }

    /// Combine postprocess (unpermute): `out[t] += weight[a] · row(a)` for every
    /// surviving slot a of every planned token t, in slot order, where row(a) is the
    /// returned wire row `plan.rowOfSlot[a]`. `out` [T × H] already holds what the layer
    /// adds to (the residual and the shared experts). `scratch` holds one row [H].
    /// Summing in slot order makes the result independent of the layout.
    ///
    /// With dedup the returned rows are already weighted sums (`sourceMajorSummed`):
    /// `out[t] += row` once per destination rank of t, in the order of the token's first
    /// slot on each rank; `weights` is not read.
    public static func unpermute(
        _ wire: UnsafeRawBufferPointer, plan: DispatchPlan, weights: [Float], topK k: Int, hidden H: Int,
        precision: WirePrecision, scratch: UnsafeMutableBufferPointer<Float>,
        into out: UnsafeMutableBufferPointer<Float>
    ) {
        let rowBytes = WireCodec.bytesPerRow(precision, hidden: H), tokens = plan.tokens
        precondition(out.count >= tokens.upperBound * H && scratch.count >= H, "unpermute: buffers too small")
        precondition(wire.count >= plan.sendRows * rowBytes, "unpermute: wire buffer too small")
        let dedup = plan.dedup == .rank
        precondition(dedup || weights.count >= tokens.upperBound * k, "unpermute: \(weights.count) weights")
        plan.rowOfSlot.withUnsafeBufferPointer { rowOf in
            weights.withUnsafeBufferPointer { weight in
                for t in tokens {
                    let y = out.baseAddress! + t * H
                    for j in 0..<k {
                        let a = t * k + j
                        let i = Int(rowOf[a])
                        guard i >= 0 else { continue }
                        if dedup {
                            // The row of an earlier slot on the same rank was added already.
                            var seen = false
                            for j2 in 0..<j where Int(rowOf[t * k + j2]) == i { seen = true }
                            if seen { continue }
                        }
                        // With dedup the row is already weighted: × 1 is exact.
                        WireCodec.addRow(precision, src: wire.baseAddress! + i * rowBytes, hidden: H,
                                         weight: dedup ? 1 : weight[a], scratch: scratch.baseAddress!, into: y)
                    }
                }
            }
        }
    }
}
