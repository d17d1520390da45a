import Glibc

/// Counts the rows of every table in a plain-format dump as it streams past: each table's data is a
/// `COPY <schema>.<table> (...) FROM stdin;` line, one line per row (COPY's text format escapes
/// newlines inside values), and a line holding only `\.`, which no row can start with (a backslash in a
/// value is written `\\`). Counting the dump itself costs the server nothing, where `count(*)` would
/// scan every table a second time; the counts are those of the rows the artifact holds.
final class CopyRowCounter {
    /// Rows per table, keyed by the name as the COPY line gives it (`public."Odd name"`).
    private(set) var rows: [String: Int64] = [:]
    /// The table whose rows are streaming now, between its COPY line and `\.`.
    private var table: String?
    /// The start of the current line, as much of it as decides what the line is: 2 bytes in a table's
    /// data (is it `\.`?), the whole line when it may be a COPY header.
    private var lineStart: [UInt8] = []
    private var gathering = true

    static let headerLimit = 64 * 1024
    private static let copyPrefix = Array("COPY ".utf8)

    func consume(_ chunk: UnsafeRawBufferPointer) {
        guard let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var index = 0
        while index < chunk.count {
            let newline = memchr(base + index, 0x0a, chunk.count - index).map { base.distance(to: UnsafePointer($0.assumingMemoryBound(to: UInt8.self))) }
            let stop = newline ?? chunk.count
            if gathering {
                let limit = table == nil ? Self.headerLimit : Self.endOfData.count + 1
                let taken = min(stop - index, max(0, limit - lineStart.count))
                lineStart.append(contentsOf: UnsafeBufferPointer(start: base + index, count: taken))
                if table == nil, !lineStart.starts(with: Self.copyPrefix.prefix(lineStart.count)) { gathering = false }
            }
            guard let newline else { return }
            endLine()
            index = newline + 1
        }
    }

    /// Handles the end of a line whose start is in `lineStart`.
    private func endLine() {
        defer {
            lineStart.removeAll(keepingCapacity: true)
            gathering = true
        }
        if let current = table {
            if lineStart == Self.endOfData {
                table = nil
            } else {
                rows[current, default: 0] += 1
            }
        } else if gathering, lineStart.count < Self.headerLimit, let name = Self.copyTarget(lineStart) {
            table = name
            rows[name] = rows[name] ?? 0
        }
    }

    static let endOfData: [UInt8] = Array("\\.".utf8)

    /// The qualified table name of a `COPY name [(columns)] FROM stdin;` line, or nil for any other line.
    static func copyTarget(_ line: [UInt8]) -> String? {
        let prefix = copyPrefix
        let suffix = Array(" FROM stdin;".utf8)
        guard line.count > prefix.count + suffix.count, line.starts(with: prefix), line.suffix(suffix.count).elementsEqual(suffix) else { return nil }
        // Two identifiers joined by a dot, each either plain or in double quotes with "" for a quote.
        var index = prefix.count
        func identifier() -> Bool {
            if index < line.count, line[index] == UInt8(ascii: "\"") {
                index += 1
                while index < line.count {
                    if line[index] == UInt8(ascii: "\"") {
                        if index + 1 < line.count, line[index + 1] == UInt8(ascii: "\"") { index += 2; continue }
                        index += 1
                        return true
                    }
                    index += 1
                }
                return false
            }
            let start = index
            while index < line.count, line[index] != UInt8(ascii: "."), line[index] != UInt8(ascii: " ") { index += 1 }
            return index > start
        }
        guard identifier(), index < line.count, line[index] == UInt8(ascii: ".") else { return nil }
        index += 1
        guard identifier() else { return nil }
        return String(decoding: line[prefix.count..<index], as: UTF8.self)
    }
}
