import Glibc

/// A path pattern, matched against paths relative to a source's root: a source's `exclude`, and
/// `restore --path`.
///
/// - `*` and `?` match within one path component; `[abc]` is a character class.
/// - `**` matches any number of components, including none: `.minio.sys/tmp/**` matches everything
///   below `.minio.sys/tmp`, and `**/*.log` matches log files at any depth.
/// - A pattern without `/` matches a name at any depth, as in `.gitignore`: `*.tmp`.
/// - A trailing `/` matches directories only.
public struct GlobPattern: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let components: [String]
    private let directoriesOnly: Bool

    public init(_ pattern: String) {
        self.pattern = pattern
        var text = pattern
        directoriesOnly = text.hasSuffix("/")
        while text.hasSuffix("/") { text.removeLast() }
        while text.hasPrefix("/") { text.removeFirst() }
        var parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.count == 1, parts[0] != "**" { parts.insert("**", at: 0) }
        components = parts
    }

    public var description: String { pattern }

    /// Matches the path's bytes, so a name that is not UTF-8 can be excluded too (`caf?.txt`).
    public func matches(_ relativePath: RawPath, isDirectory: Bool) -> Bool {
        if directoriesOnly && !isDirectory { return false }
        return Self.match(components[...], relativePath.components[...])
    }

    /// Whether `path` or one of the directories it is in matches: `restore --path tenant-7` selects the
    /// directory `tenant-7` and everything below it.
    public func selects(_ path: RawPath, isDirectory: Bool) -> Bool {
        if matches(path, isDirectory: isDirectory) { return true }
        let components = path.components
        // Or one of the directories it is in.
        return (1..<max(components.count, 1)).contains { Self.match(self.components[...], components[0..<$0]) }
    }

    private static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<RawPath>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            if rest.isEmpty { return !path.isEmpty }
            var tail = path
            while true {
                if match(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        }
        // `*` matches names that start with a dot too, as in .gitignore.
        guard let name = path.first, name.withCString({ fnmatch(first, $0, 0) }) == 0 else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }
}
