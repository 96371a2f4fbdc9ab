/// The all-to-allv model of a link, fitted to a measured sweep: one latency and one
/// bandwidth, as the target-system model uses them (../shared/DESIGN.md, "Target
/// system"): time = latency + bytes / bandwidth, where `bytes` is what one rank sends
/// (or receives, the larger) over the link in one all-to-allv.
public struct LinkFit: Sendable, Equatable {
    /// Seconds, ≥ 0.
    public var latencySeconds: Double
    /// Bytes per second, > 0.
    public var bytesPerSecond: Double

    public init(latencySeconds: Double, bytesPerSecond: Double) {
        self.latencySeconds = latencySeconds
        self.bytesPerSecond = bytesPerSecond
    }

    /// The model's time for `bytes` on the link, seconds.
    public func seconds(bytes: Double) -> Double {
        latencySeconds + bytes / bytesPerSecond
    }

    public struct FitError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Fits the model to points (`bytes[i]`, `seconds[i]`) by least squares on the
    /// relative error, Σ ((latency + bytes/bandwidth) / seconds − 1)²: a sweep spans
    /// six orders of magnitude of time, and plain least squares would let the largest
    /// messages alone decide the latency. Closed form (two normal equations); a
    /// negative latency is refitted as 0. Needs two distinct byte counts and times
    /// that grow with them.
    public static func fit(bytes: [Double], seconds: [Double]) throws -> LinkFit {
        guard bytes.count == seconds.count else {
            throw FitError(description: "\(bytes.count) byte counts for \(seconds.count) times")
        }
        guard bytes.allSatisfy({ $0.isFinite && $0 >= 0 }), seconds.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw FitError(description: "byte counts must be finite and ≥ 0, times finite and > 0")
        }
        guard Set(bytes).count >= 2 else {
            throw FitError(description: "a fit needs at least two different message sizes, got \(Set(bytes).count)")
        }
        // Unknowns a (latency) and b (seconds per byte); minimize Σ (a·u + b·v − 1)²
        // with u = 1/t, v = x/t.
        var suu = 0.0, suv = 0.0, svv = 0.0, su = 0.0, sv = 0.0
        for (x, t) in zip(bytes, seconds) {
            let u = 1 / t, v = x / t
            suu += u * u; suv += u * v; svv += v * v; su += u; sv += v
        }
        let det = suu * svv - suv * suv
        var a = (su * svv - sv * suv) / det
        var b = (suu * sv - suv * su) / det
        if !(det > 0) || !a.isFinite || !b.isFinite || a < 0 {
            // Latency 0: the one-parameter fit of b.
            a = 0
            b = sv / svv
        }
        guard b > 0, b.isFinite else {
            throw FitError(description: "the all-to-allv times do not grow with the message size, so there is no "
                           + "bandwidth to fit; raise --max-bytes, or calibrate on a quieter host")
        }
        return LinkFit(latencySeconds: a, bytesPerSecond: 1 / b)
    }

    /// |model − measured| / measured for each point.
    public func relativeErrors(bytes: [Double], seconds: [Double]) -> [Double] {
        zip(bytes, seconds).map { abs(self.seconds(bytes: $0) - $1) / $1 }
    }
}
