#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Faults the tests inject into real runs, from the environment, to check that a run
/// that goes wrong still ends on every rank with one line each.
///
/// `EPSIM_FAULT_STALL=RANK:STEP`: rank RANK stops for ever in the route phase of layer 0
/// of step STEP (0-based, warm-up included), as a rank stuck in a kernel or a lost
/// message would; its peers then wait in their next collective. Only the watchdog
/// (`--timeout`) ends such a run. Unset (always, outside tests), nothing changes.
struct FaultInjection: Sendable {
    let stallRank: Int
    let stallStep: Int

    /// The fault the environment asks for, if any; a malformed value is an error.
    static func fromEnvironment() throws -> FaultInjection? {
        guard let raw = getenv("EPSIM_FAULT_STALL") else { return nil }
        let text = String(cString: raw)
        let parts = text.split(separator: ":").map { Int($0) }
        guard parts.count == 2, let rank = parts[0], let step = parts[1], rank >= 0, step >= 0 else {
            throw FaultError(text: text)
        }
        return FaultInjection(stallRank: rank, stallStep: step)
    }

    /// Stalls here for ever when this is the chosen (rank, step).
    func apply(rank: Int, step: Int, timer: PhaseTimer) {
        guard rank == stallRank && step == stallStep else { return }
        timer.layer = 0
        timer.time(Phase.route) {
            while true { preciseSleep(3600) }
        }
    }

    struct FaultError: Error, CustomStringConvertible {
        let text: String
        var description: String { "EPSIM_FAULT_STALL: expected RANK:STEP (two numbers >= 0), got '\(text)'" }
    }
}
