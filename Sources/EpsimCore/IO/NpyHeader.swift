/// The header dictionary of a .npy file, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
///
/// Parses the Python-literal subset NumPy writes: a dict with string keys whose values
/// are strings, True/False, ints (an old 'L' suffix allowed) or tuples of ints.
struct NpyHeader: Equatable {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    init?(parsing text: String) {
        var parser = Parser(Array(text.utf8))
        // Nothing but padding may follow the dict (NumPy refuses anything else).
        guard let dict = parser.parseDict(), parser.atEnd,
              case let .string(descr)? = dict["descr"],
              case let .bool(fortran)? = dict["fortran_order"],
              case let .tuple(shape)? = dict["shape"]
        else { return nil }
        self.descr = descr
        self.fortranOrder = fortran
        self.shape = shape
    }

    /// Python's spelling of a shape: (5,), (2, 3), ().
    static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    private enum Value { case string(String), bool(Bool), int(Int), tuple([Int]) }

    private struct Parser {
        let s: [UInt8]
        var i = 0
        init(_ s: [UInt8]) { self.s = s }

        mutating func skipSpace() {
            while i < s.count, s[i] == 0x20 || s[i] == 0x0A || s[i] == 0x09 || s[i] == 0x0D { i += 1 }
        }

        /// Whether only spaces and newlines are left.
        var atEnd: Bool {
            mutating get {
                skipSpace()
                return i == s.count
            }
        }

        mutating func eat(_ c: Character) -> Bool {
            skipSpace()
            guard i < s.count, s[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }

        mutating func parseDict() -> [String: Value]? {
            guard eat("{") else { return nil }
            var dict: [String: Value] = [:]
            while !eat("}") {
                guard let key = parseString(), eat(":"), let value = parseValue() else { return nil }
                dict[key] = value
                if !eat(",") {
                    guard eat("}") else { return nil }
                    break
                }
            }
            return dict
        }

        mutating func parseValue() -> Value? {
            skipSpace()
            guard i < s.count else { return nil }
            switch s[i] {
            case UInt8(ascii: "'"), UInt8(ascii: "\""): return parseString().map(Value.string)
            case UInt8(ascii: "("): return parseTuple().map(Value.tuple)
            case UInt8(ascii: "T"), UInt8(ascii: "F"):
                if word("True") { return .bool(true) }
                if word("False") { return .bool(false) }
                return nil
            default: return parseInt().map(Value.int)
            }
        }

        mutating func word(_ w: String) -> Bool {
            let bytes = Array(w.utf8)
            guard i + bytes.count <= s.count, Array(s[i..<(i + bytes.count)]) == bytes else { return false }
            i += bytes.count
            return true
        }

        mutating func parseString() -> String? {
            skipSpace()
            guard i < s.count, s[i] == UInt8(ascii: "'") || s[i] == UInt8(ascii: "\"") else { return nil }
            let quote = s[i]
            i += 1
            let start = i
            while i < s.count, s[i] != quote { i += 1 }
            guard i < s.count else { return nil }
            defer { i += 1 }
            return String(decoding: s[start..<i], as: UTF8.self)
        }

        mutating func parseInt() -> Int? {
            skipSpace()
            let start = i
            while i < s.count, s[i] >= UInt8(ascii: "0"), s[i] <= UInt8(ascii: "9") { i += 1 }
            guard i > start, let n = Int(String(decoding: s[start..<i], as: UTF8.self)) else { return nil }
            if i < s.count, s[i] == UInt8(ascii: "L") { i += 1 }
            return n
        }

        mutating func parseTuple() -> [Int]? {
            guard eat("(") else { return nil }
            var items: [Int] = []
            while !eat(")") {
                guard let n = parseInt() else { return nil }
                items.append(n)
                if !eat(",") {
                    guard eat(")") else { return nil }
                    break
                }
            }
            return items
        }
    }
}
