/// The names of artifacts and manifests in a sink, as in the design document:
/// `db_schedgen_20241130_020000.sql.gz`, `minio_schedgen-pdfs_20241130_020000.tar.gz`,
/// `manifest_schedgen_20241130_020000.json`.
public enum ArtifactName {
    /// `<source>_<subject>_<YYYYMMDD>_<HHMMSS>.<ext>`
    public static func artifact(source: String, subject: String, timestamp: SetTimestamp, fileExtension: String) -> String {
        let suffix = fileExtension.isEmpty ? "" : ".\(fileExtension)"
        return "\(source)_\(sanitizedSubject(subject))_\(timestamp)\(suffix)"
    }

    /// `manifest_<plan>_<YYYYMMDD>_<HHMMSS>.json`
    public static func manifest(plan: String, timestamp: SetTimestamp) -> String {
        "manifest_\(plan)_\(timestamp).json"
    }

    /// `pack_<plan>_<source>_<id>.<ext>`: a pack of an incremental source, shared by many sets; `id` is
    /// 32 lower-case hex digits.
    public static func pack(plan: String, source: String, id: String, fileExtension: String) -> String {
        "pack_\(plan)_\(source)_\(id).\(fileExtension)"
    }

    /// Whether `key` is a pack's name (``pack(plan:source:id:fileExtension:)``), of `plan` and `source`
    /// when they are given. Packs have no timestamp: ``parse(_:)`` returns nil for them.
    public static func isPack(_ key: String, plan: String? = nil, source: String? = nil) -> Bool {
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pack", isValidName(String(parts[1])), isValidName(String(parts[2])),
              plan.map({ $0 == parts[1] }) ?? true, source.map({ $0 == parts[2] }) ?? true else { return false }
        let rest = parts[3].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard rest.count == 2, rest[0].utf8.count == 32, rest[0].utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
              !rest[1].isEmpty, rest[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == ".") }), !rest[1].hasSuffix(".") else { return false }
        return true
    }

    /// Splits a key into what comes before the timestamp, the timestamp, and the extension.
    /// Returns nil for keys that are not ours: among them hidden and temporary files (`.<name>.tmp-*`)
    /// and keys with a `/`, which ``artifact(source:subject:timestamp:fileExtension:)`` never makes.
    public static func parse(_ key: String) -> (prefix: String, timestamp: SetTimestamp, fileExtension: String)? {
        guard !key.hasPrefix("."), !key.contains("/"), !key.hasSuffix(".") else { return nil }
        // The timestamp is the last `_YYYYMMDD_HHMMSS` followed by a dot or the end.
        let characters = Array(key)
        var index = characters.count - 16
        while index >= 1 {
            if characters[index] == "_" {
                let candidate = String(characters[(index + 1)..<(index + 16)])
                let after = index + 16
                if let timestamp = SetTimestamp(candidate), after == characters.count || characters[after] == "." {
                    let fileExtension = after == characters.count ? "" : String(characters[(after + 1)...])
                    return (String(characters[..<index]), timestamp, fileExtension)
                }
            }
            index -= 1
        }
        return nil
    }

    /// The manifest key's plan, or nil when the key is not a manifest.
    public static func manifestPlan(_ key: String) -> (plan: String, timestamp: SetTimestamp)? {
        guard let parts = parse(key), parts.fileExtension == "json", parts.prefix.hasPrefix("manifest_") else { return nil }
        return (String(parts.prefix.dropFirst("manifest_".count)), parts.timestamp)
    }

    /// A subject keeps letters, digits, `.`, `-` and `_`; anything else (a slash, a space) becomes `-`.
    public static func sanitizedSubject(_ subject: String) -> String {
        String(subject.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "-" })
    }

    /// Whether a subject, as a manifest records it (already sanitized), can be part of an artifact's
    /// name and of a restore path (`DIR/<subject>.sql`): not empty, not `.` or `..`, and nothing that
    /// ``sanitizedSubject(_:)`` would change.
    public static func isValidSubject(_ subject: String) -> Bool {
        !subject.isEmpty && subject != "." && subject != ".." && sanitizedSubject(subject) == subject
    }

    /// Whether a plan, source or sink name is valid: it starts with a letter or digit and holds only
    /// letters, digits, `.` and `-`. No `_`, so names split back unambiguously.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 64 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
    }
}
