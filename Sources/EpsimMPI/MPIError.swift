import CMPI
import CMPIShim

/// A failed MPI call: its name, MPI's error code and MPI's own text for it.
public struct MPIError: Error, CustomStringConvertible, Sendable, Equatable {
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
    if let error = mpiFailure(call, body) { throw error }
}

/// `mpi` for the calls whose failure cannot be thrown (a `deinit`, MPI_Abort): performs
/// the call and returns its failure, naming the call, or nil on success. `mpi` is built
/// on it, so this is the one place the wrapper calls MPI.
///
/// `describe: false` skips MPI_Error_string (for MPI_Error_string itself, whose failure
/// would otherwise be described by calling it again).
@inline(__always)
@discardableResult
func mpiFailure(_ call: StaticString, describe: Bool = true, _ body: () -> Int32) -> MPIError? {
    let code = body()
    guard code != MPI_SUCCESS else { return nil }
    return MPIError(call: "\(call)", code: code,
                    message: describe ? MPIError.text(of: code) : "unknown error")
}

extension MPIError {
    /// MPI's text for an error code (MPI_Error_string), or "unknown error".
    static func text(of code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        guard mpiFailure("MPI_Error_string", describe: false, { MPI_Error_string(code, &buffer, &length) }) == nil
        else { return "unknown error" }
        return MPICommunicator.text(buffer, length: length)
    }
}
