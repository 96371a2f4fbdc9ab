import Foundation

/// Reads `placement.load`, the measured per-expert load EPLB balances, from a JSON file:
/// an epsim result (`epsim.result/1`, its `routing.expert_load`: assignments that ended
/// at each logical expert, summed over ranks, steps and layers; docs/results.md) or a
/// plain array of E numbers. Errors are one line naming `placement.load`, the file and
/// the offending value.
public enum ExpertLoadFile {
    /// The largest file read: a result of 65,536 experts and thousands of steps fits.
    static let limit = 256 << 20

    /// - Returns: [E] loads, each finite and ≥ 0, not all 0.
    /// - Throws: `ConfigError` at `placement.load` when the file cannot be read, is not
    ///   JSON, holds neither form, has another count than `experts`, or a bad entry.
    public static func read(_ path: String, experts E: Int, origin: String?) throws(ConfigError) -> [Double] {
        func fail(_ message: String) -> ConfigError {
            ConfigError(file: origin, keyPath: "placement.load", "\(path): \(message)")
        }
        let bytes: [UInt8]
        switch BoundedRead.bytes(path, limit: limit) {
        case let .success(b): bytes = b
        case let .failure(.unreadable(reason)): throw fail("cannot read file: \(reason)")
        case let .failure(.tooLarge(limit)): throw fail("larger than \(limit >> 20) MiB")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) else { throw fail("not JSON") }
        let items: [Any]
        if let list = object as? [Any] {
            items = list
        } else if let doc = object as? [String: Any] {
            guard let routing = doc["routing"] as? [String: Any], let list = routing["expert_load"] as? [Any] else {
                throw fail("a JSON object without routing.expert_load (expected an epsim result or an array of numbers)")
            }
            items = list
        } else {
            throw fail("expected an epsim result or an array of numbers")
        }
        return try values(items, experts: E, fail: fail)
    }

    /// Checks the entries of the array: E of them, numbers, finite, ≥ 0, not all 0.
    static func values(_ items: [Any], experts E: Int, fail: (String) -> ConfigError) throws(ConfigError) -> [Double] {
        guard items.count == E else {
            throw fail("holds \(items.count) loads, but model.experts is \(E)")
        }
        var load: [Double] = []
        load.reserveCapacity(E)
        for (i, item) in items.enumerated() {
            let x: Double
            if let d = item as? Double { x = d }
            else if let n = item as? Int { x = Double(n) }
            else if let n = item as? NSNumber { x = n.doubleValue }
            else { throw fail("entry \(i) is not a number") }
            guard x.isFinite, x >= 0 else { throw fail("entry \(i) is \(x); loads are finite and ≥ 0") }
            load.append(x)
        }
        guard load.contains(where: { $0 > 0 }) else { throw fail("every load is 0; nothing to balance") }
        return load
    }
}
