import Foundation

/// Keeps secrets out of what BackupKit prints, logs, sends and records.
package enum Redaction {
    /// Replaces the password in every `scheme://user:password@host` in `text` with `***`. The password
    /// may hold `/`, `?`, `#` or `@` (such URLs are invalid, but people write them): everything between the
    /// first `:` and the last `@` of the word is masked. That can over-mask an `@` in a path, never under-mask.
    public static func redactURLCredentials(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let wordEnd = rest.firstIndex { " \n\t\"'<>".contains($0) } ?? rest.endIndex
            let word = rest[..<wordEnd]
            if let at = word.lastIndex(of: "@"), let colon = word[..<at].firstIndex(of: ":") {
                result += word[..<colon] + ":***" + word[at...]
            } else {
                result += word
            }
            rest = rest[wordEnd...]
        }
        return result + rest
    }

    /// A URL reduced to its scheme, host and port, for messages about URLs whose path is itself a
    /// secret (Slack and Discord webhook URLs carry their token in the path).
    public static func redactURLPath(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "(a URL)" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/…"
    }

    /// Replaces each of `secrets` (ignoring very short ones) wherever it appears in `text`.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = redactURLCredentials(text)
        for secret in secrets where secret.count >= 4 {
            result = result.replacingOccurrences(of: secret, with: "***")
        }
        return result
    }
}
