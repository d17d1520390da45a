/// How a directory-like source makes its sets: `full`, one archive of everything each time (the
/// default), or `incremental`, an index plus packs of content shared between sets
/// (docs/incremental-sets.md).
public enum BackupMode: String, Sendable, Hashable, Codable, CaseIterable {
    case full
    case incremental

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let mode = BackupMode(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "mode must be 'full' or 'incremental', not '\(text)'"))
        }
        self = mode
    }
}
