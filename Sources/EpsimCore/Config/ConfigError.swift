/// A mistake in a config file, a `--set` override or a file the config names.
///
/// The description is one line: the file, the YAML key path, what was expected and
/// the offending value, e.g.
/// `configs/x.yaml: capacity.factor: expected a number > 0 or 'none', got -1`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// The config file (or "--set" for an override); nil when not known.
    public var file: String?
    /// Dotted key path, e.g. "capacity.factor"; empty for the whole document.
    public var keyPath: String
    /// What is wrong, already naming the value.
    public var message: String

    public init(file: String? = nil, keyPath: String, _ message: String) {
        self.file = file
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if !keyPath.isEmpty { parts.append(keyPath) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
