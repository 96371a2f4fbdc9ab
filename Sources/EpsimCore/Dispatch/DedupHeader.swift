/// The metadata that leads every dispatch row with `dispatch.dedup: rank`: which of the
/// destination's local experts get the row, and with what weight.
///
/// Layout of one row on the wire (k = top-k, machine byte order, unaligned):
///
///     [k × Int32: local expert of slot j on the destination rank, or -1]
///     [k × Float32: weight of slot j (the decisions' final weight), 0 where -1]
///     [the token row in the dispatch wire format (`WireCodec`)]
///
/// so a row is `bytes(topK:) + WireCodec.bytesPerRow(dispatch, hidden:)` bytes and the
/// header costs 8·k bytes per (token, destination rank). Entry j describes slot j of
/// the token, so the receiver feeds the row to its experts in slot order.
public enum DedupHeader {
    /// Header bytes of one row: 4 bytes of local expert and 4 of weight per slot.
    @inline(__always)
    public static func bytes(topK k: Int) -> Int { 8 * k }

    /// Writes a row's header at `dst`: `local` [k] and `weight` [k].
    @inline(__always)
    public static func write(local: UnsafePointer<Int32>, weight: UnsafePointer<Float>, topK k: Int,
                             to dst: UnsafeMutableRawPointer) {
        for j in 0..<k {
            dst.storeBytes(of: local[j], toByteOffset: 4 * j, as: Int32.self)
            dst.storeBytes(of: weight[j], toByteOffset: 4 * (k + j), as: Float.self)
        }
    }

    /// Entry j of the header at `src`: (local expert or -1, weight).
    @inline(__always)
    public static func entry(_ j: Int, topK k: Int, at src: UnsafeRawPointer) -> (local: Int32, weight: Float) {
        (src.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self),
         src.loadUnaligned(fromByteOffset: 4 * (k + j), as: Float.self))
    }
}
