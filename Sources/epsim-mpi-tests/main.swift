// The MPI test suite: every transport conformance check, plus MPI-only checks, run by
// every rank under mpirun (launch/test runs it on 1 to 4 ranks). Rank 0 prints one
// line per check and a closing `N passed, M failed`; every rank exits with the same
// status.
//
//   mpirun -n 4 .build/release/epsim-mpi-tests [--filter SUBSTRING]

import EpsimConformance
import EpsimCore
import EpsimRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let transport: MPITransport
do {
    transport = try MPITransport.initialize()
} catch {
    Console.error("epsim-mpi-tests: cannot start MPI: \(error)\n")
    exit(2)
}

var filter: String? = nil
let arguments = CommandLine.arguments
if let i = arguments.firstIndex(of: "--filter"), i + 1 < arguments.count { filter = arguments[i + 1] }

let checks = Conformance.checks + MPIChecks.all + RoutingConformance.checks + DataPlaneConformance.checks
    + DedupConformance.checks + SeededLayoutConformance.checks
var passed = 0, failed = 0
for check in checks where filter.map({ check.name.contains($0) }) ?? true {
    var message: [UInt8] = []
    do {
        try check.run(transport)
    } catch {
        message = Array("rank \(transport.rank): \(error)".utf8)
    }
    // Every rank learns whether any rank failed, and rank 0 prints the first failure.
    let anyFailed = try transport.allreduce([Int64(message.isEmpty ? 0 : 1)], op: .max)[0] != 0
    let messages = try transport.gatherBytes(message, root: 0)
    if anyFailed { failed += 1 } else { passed += 1 }
    if transport.rank == 0 {
        if anyFailed {
            let first = messages.first { !$0.isEmpty }.map { String(decoding: $0, as: UTF8.self) } ?? "?"
            print("FAIL \(check.name) [P=\(transport.size)]: \(first)")
        } else {
            print("PASS \(check.name) [P=\(transport.size)]")
        }
    }
}
if transport.rank == 0 { print("\(passed) passed, \(failed) failed") }
do {
    try transport.finalize()
} catch {
    Console.error("epsim-mpi-tests: rank \(transport.rank): \(error)\n")
    exit(2)
}
exit(failed == 0 ? 0 : 1)
