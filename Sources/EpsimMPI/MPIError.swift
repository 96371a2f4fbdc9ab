import CMPI
import CMPIShim

/// A failed MPI call: its name, MPI's error code and MPI's own text for it.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public let message: String

    public var description: String { "\(call) failed: \(message) (MPI error \(code))" }
}

/// Performs one MPI call. Every MPI call of the wrapper goes through here, so that a
/// non-success code (seen because MPI_ERRORS_RETURN is installed) becomes an
/// `MPIError` naming the call.
@inline(__always)
func mpi(_ call: StaticString, _ body: () -> Int32) throws(MPIError) {
    let code = body()
    guard code == cmpishim_success() else { throw MPIError.from(code: code, call: "\(call)") }
}

extension MPIError {
    static func from(code: Int32, call: String) -> MPIError {
        var buffer = [CChar](repeating: 0, count: Int(cmpishim_max_error_string()) + 1)
        var length: Int32 = 0
        let ok = MPI_Error_string(code, &buffer, &length) == cmpishim_success()
        let text = ok ? String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                      : "unknown error"
        return MPIError(call: call, code: code, message: text)
    }
}
