/// Plain-text formatting for reports and tables, without Foundation: fixed decimals,
/// byte units, padding to a column width.

/// Bytes in binary units: "812 B", "1.50 KiB", "80.00 MiB", "1.25 GiB".
func byteText<T: BinaryInteger>(_ n: T) -> String {
    let value = Double(n)
    let units = ["KiB", "MiB", "GiB", "TiB"]
    guard abs(value) >= 1024 else { return "\(n) B" }
    var scaled = value / 1024, unit = 0
    while abs(scaled) >= 1024 && unit < units.count - 1 {
        scaled /= 1024
        unit += 1
    }
    return String(format2: scaled) + " " + units[unit]
}

/// Seconds as milliseconds with three decimals.
func ms(_ seconds: Double) -> String { String(format3: seconds * 1e3) }

/// A share as a percentage with two decimals: 0.1234 → "12.34%".
func percent(_ share: Double) -> String { String(format2: 100 * share) + "%" }

/// The same with its sign (relative errors): "+12.34%", "-3.00%"; the sign is the
/// printed figure's ("+0.00%" for a share that rounds to zero from either side).
func signedPercent(_ share: Double) -> String {
    let text = percent(share)
    return (text.hasPrefix("-") ? "" : "+") + text
}

extension String {
    /// A number with three decimals; one too large for that (|value| ≥ 1e15), or not
    /// finite, in Swift's shortest form (`1e+17`).
    init(format3 value: Double) {
        guard value.isFinite, abs(value) < 1e15 else { self = "\(value)"; return }
        let scaled = (value * 1000).rounded()
        let magnitude = Int(abs(scaled))
        let fraction = String(magnitude % 1000)
        self = (scaled < 0 ? "-" : "") + "\(magnitude / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A number with two decimals, without Foundation's formatting; one too large for
    /// that (|value| ≥ 1e15), or not finite, in Swift's shortest form (`1e+17`).
    init(format2 value: Double) {
        guard value.isFinite, abs(value) < 1e15 else { self = "\(value)"; return }
        let scaled = (value * 100).rounded()
        let sign = scaled < 0 ? "-" : ""
        let magnitude = Int(abs(scaled))
        let fraction = magnitude % 100
        self = "\(sign)\(magnitude / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    /// Pads on the right to `width` characters.
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
    /// Pads on the left to `width` characters.
    func leftPadding(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }

    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for ch in self { if ch == target { out += replacement } else { out.append(ch) } }
        return out
    }
}

/// A whole number without decimals ("300"), anything else as Swift writes it ("2.5").
func shortNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
