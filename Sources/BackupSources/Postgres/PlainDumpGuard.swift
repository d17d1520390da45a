import BackupKit

/// Stands between a plain dump and `psql`, so a dump that was altered after the backup can never make
/// psql run a meta-command that pg_dump does not write (`\!` runs a shell command, `\o |cmd` pipes,
/// `\copy ... program`, `\set` and `\gexec` change what runs next).
///
/// It reads the SQL stream as it is fed, chunk by chunk, with bounded memory (a few bytes of state, plus
/// one meta-command line of at most ``maxMetaLineBytes``), and follows psql's own lexer: single-quoted
/// strings (`''`, `E'...'` with backslash escapes, `standard_conforming_strings` as pg_dump sets it,
/// continuation across newlines), double-quoted identifiers, dollar-quoted bodies, `--` and nested
/// `/* */` comments, parentheses and `BEGIN ... END` bodies of `CREATE FUNCTION`, and `COPY ... FROM stdin;`
/// data blocks, whose lines are data up to a line that is exactly `\.`. Outside data blocks, a backslash
/// outside quotes and comments is a psql meta-command, and only what pg_dump writes is let through, as
/// whole lines starting in the first column:
///
/// - `\restrict KEY` and `\unrestrict KEY` (PostgreSQL 15.14+ / 16.10+ / 17.6+): passed on as empty lines,
///   because psql already runs in restrict mode under a key of our own (see ``restrictKey``);
/// - `\connect DBNAME`, only if the policy allows it, in the forms pg_dump and pg_dumpall write (a plain
///   name, or a double-quoted one, optionally after `-reuse-previous=on`, never with a backquote): passed
///   on as `\unrestrict K \connect DBNAME \restrict K` on one line, so the line numbers psql reports stay
///   those of the dump.
///
/// Anything else throws a ``Refusal`` before a byte of that line reaches psql. The caller starts psql with
/// `--command='\restrict <restrictKey>'` as a second layer: psql's restrict mode refuses every meta-command
/// except `\unrestrict`, so even input that read differently to this guard than to psql (a server setting
/// changed by SQL that the guard cannot see) never runs one.
package struct PlainDumpGuard {
    /// What the dump may contain besides SQL.
    package struct Policy: Sendable, Hashable {
        /// `\connect` lines (pg_dumpall, `pg_dump --create`).
        package var allowsConnect: Bool
        /// `COPY ... FROM stdin;` data blocks. Only safe where psql stops at the first error
        /// (`ON_ERROR_STOP`): if the COPY failed and psql went on, the block's lines would be read as
        /// commands.
        package var allowsCopyData: Bool

        /// A database dump by `pg_dump` without `--create`, loaded with `ON_ERROR_STOP=1 --single-transaction`.
        package static let databaseDump = Policy(allowsConnect: false, allowsCopyData: true)
        /// A globals dump by `pg_dumpall --globals-only`, loaded without `ON_ERROR_STOP` (roles that exist
        /// already are errors that are fine): roles and tablespaces, never COPY data.
        package static let globalsDump = Policy(allowsConnect: true, allowsCopyData: false)

        package init(allowsConnect: Bool, allowsCopyData: Bool) {
            self.allowsConnect = allowsConnect
            self.allowsCopyData = allowsCopyData
        }
    }

    /// Why a dump was refused, and where.
    package struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        /// 1-based line number in the dump.
        package var line: Int
        /// The meta-command as written, shortened to ``PlainDumpGuard/maxShownBytes`` and with control
        /// characters replaced.
        package var command: String
        package var reason: String

        package var description: String { "line \(line): the psql meta-command `\(command)` \(reason)" }
    }

    /// The longest meta-command line held back while it is checked; pg_dump's are under 200 bytes.
    package static let maxMetaLineBytes = 4096
    /// The longest dollar-quote tag followed; pg_dump writes `$$`, `$_$`, `$__$`...
    package static let maxDollarTagBytes = 256
    /// How much of a refused meta-command an error shows.
    package static let maxShownBytes = 60

    package let policy: Policy
    /// The key psql runs restricted under (`\restrict KEY`); lines that lift it are written with it.
    package let restrictKey: String

    private enum Mode: UInt8 {
        case normal
        /// In a single-quoted string; `escapes` says whether backslash escapes apply (E'', or
        /// standard_conforming_strings off).
        case quoted
        /// Just after a closing quote: `''` continues the string, and so does a quote after whitespace
        /// holding a newline (SQL's string continuation).
        case afterQuote
        case afterQuoteDash
        case afterQuoteComment
        case doubleQuoted
        case afterDoubleQuote
        case dollarTag
        case dollarBody
        case lineComment
        case blockComment
        /// A line that starts with a backslash, held back until its end.
        case metaLine
        /// A backslash in the middle of a line: refused once the command is read far enough to show it.
        case refusing
        case copyData
    }

    private enum AfterQuotePhase: UInt8 { case immediate, horizontal, newline }

    private var mode: Mode = .normal
    private var line = 1
    private var atLineStart = true
    private var standardConformingStrings = true
    // Strings.
    private var escapes = false
    private var escapeNext = false
    private var afterQuotePhase: AfterQuotePhase = .immediate
    // Tokens in normal mode.
    private var previous: UInt8 = 0
    private var previousIsIdentifier = false
    private var beforePreviousIsIdentifier = false
    private var word: [UInt8] = []
    private var wordOverflow = false
    private var wordPendingAmpersand = false
    private var tokenStartsWithDigit = false
    // Statement structure, as psql tracks it to find the end of a statement.
    private var parenDepth = 0
    private var beginDepth = 0
    private var identifierCount = 0
    private var identifiers: [UInt8] = [0, 0, 0, 0]
    private var statementEmpty = true
    /// The first bytes of the current (or just ended) statement, to recognise `COPY`, whose column list
    /// may span lines (a column name can hold a newline).
    private var statementHead: [UInt8] = []
    private var capturingHead = false
    private var terminationsOnLine = 0
    // The current line, for COPY and SET standard_conforming_strings.
    private var lineStartsStatement = true
    private var lineHead: [UInt8] = []
    private var lineTail: [UInt8] = []
    // Dollar quotes, comments.
    private var tag: [UInt8] = []
    private var tagProgress = 0
    private var commentDepth = 0
    private var commentPrevious: UInt8 = 0
    // A held-back meta-command line.
    private var metaLine: [UInt8] = []
    // COPY data.
    private var dataLineLength = 0
    private var dataLineHead: (UInt8, UInt8, UInt8) = (0, 0, 0)

    package init(policy: Policy, restrictKey: String = PlainDumpGuard.makeRestrictKey()) {
        self.policy = policy
        self.restrictKey = restrictKey
        lineHead.reserveCapacity(40)
        lineTail.reserveCapacity(16)
    }

    /// A random key for psql's `\restrict`: 32 letters and digits.
    package static func makeRestrictKey() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// Checks the next chunk of the dump and passes on what psql may read, in order, through `emit`
    /// (possibly in several pieces). Throws a ``Refusal`` before emitting any byte of a refused line.
    package mutating func feed(_ chunk: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let bytes = chunk.bindMemory(to: UInt8.self)
        var spanStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if mode == .copyData {
                // The hot path for table data: only line ends matter.
                if byte == 0x0A {
                    endDataLine()
                } else {
                    switch dataLineLength {
                    case 0: dataLineHead.0 = byte
                    case 1: dataLineHead.1 = byte
                    case 2: dataLineHead.2 = byte
                    default: break
                    }
                    dataLineLength += 1
                }
                index += 1
                continue
            }
            if mode == .refusing {
                if byte == 0x0A || metaLine.count > Self.maxShownBytes { throw middleOfLineRefusal() }
                metaLine.append(byte)
                index += 1
                continue
            }
            if mode == .metaLine {
                if byte == 0x0A {
                    let replacement = try checkedMetaLine()
                    try replacement.withUnsafeBytes { try emit($0) }
                    metaLine.removeAll(keepingCapacity: true)
                    mode = .normal
                    newLine()
                    spanStart = index + 1
                } else {
                    metaLine.append(byte)
                    if metaLine.count > Self.maxMetaLineBytes {
                        throw refusal(metaLine, "is longer than \(Self.maxMetaLineBytes) bytes; pg_dump never writes such a line")
                    }
                }
                index += 1
                continue
            }
            if byte == 0x5C, atLineStart, mode == .normal || mode == .afterQuote || mode == .afterDoubleQuote {
                // A line that starts with a backslash outside quotes: hold it back until it is whole.
                if spanStart < index { try emit(UnsafeRawBufferPointer(rebasing: chunk[spanStart..<index])) }
                finishWord(next: byte)
                mode = .metaLine
                metaLine.removeAll(keepingCapacity: true)
                metaLine.append(byte)
                atLineStart = false
                index += 1
                continue
            }
            if try !step(byte) {
                // A backslash in the middle of a line, outside quotes: nothing more reaches psql.
                mode = .refusing
                metaLine.removeAll(keepingCapacity: true)
                metaLine.append(byte)
            }
            index += 1
        }
        if mode != .metaLine, mode != .refusing, spanStart < bytes.count {
            try emit(UnsafeRawBufferPointer(rebasing: chunk[spanStart..<bytes.count]))
        }
    }

    /// Convenience for tests and small inputs: checks `bytes` as one chunk and returns what psql would read.
    package mutating func feed(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try bytes.withUnsafeBytes { buffer in try feed(buffer) { out.append(contentsOf: $0) } }
        return out
    }

    /// Ends the dump: checks a last meta-command line that has no newline.
    package mutating func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if mode == .refusing { throw middleOfLineRefusal() }
        guard mode == .metaLine else { return }
        let replacement = try checkedMetaLine()
        metaLine.removeAll()
        mode = .normal
        try replacement.withUnsafeBytes { try emit($0) }
    }

    // MARK: Lexer

    /// One byte outside COPY data and meta-command lines. Returns false for a backslash that would start
    /// a meta-command.
    private mutating func step(_ byte: UInt8) throws -> Bool {
        switch mode {
        case .normal:
            return try normal(byte)
        case .quoted:
            if escapeNext {
                escapeNext = false
            } else if byte == 0x5C, escapes {
                escapeNext = true
            } else if byte == 0x27 {
                mode = .afterQuote
                afterQuotePhase = .immediate
            }
            track(byte)
            return true
        case .afterQuote:
            switch (afterQuotePhase, byte) {
            case (.immediate, 0x27):
                mode = .quoted // '' inside a string
                track(byte)
                return true
            case (.newline, 0x27):
                mode = .quoted // a string continued after a newline, in the same kind
                track(byte)
                return true
            case (_, 0x0A), (_, 0x0D):
                afterQuotePhase = .newline
                track(byte)
                return true
            case (_, 0x20), (_, 0x09), (_, 0x0C):
                if afterQuotePhase == .immediate { afterQuotePhase = .horizontal }
                track(byte)
                return true
            case (.newline, 0x2D):
                mode = .afterQuoteDash
                track(byte)
                return true
            default:
                leaveString()
                return try normal(byte)
            }
        case .afterQuoteDash:
            if byte == 0x2D {
                mode = .afterQuoteComment
                track(byte)
                return true
            }
            leaveString()
            _ = try normal(0x2D)
            return try normal(byte)
        case .afterQuoteComment:
            if byte == 0x0A || byte == 0x0D {
                mode = .afterQuote
                afterQuotePhase = .newline
            }
            track(byte)
            return true
        case .doubleQuoted:
            if byte == 0x22 { mode = .afterDoubleQuote }
            track(byte)
            return true
        case .afterDoubleQuote:
            if byte == 0x22 {
                mode = .doubleQuoted // "" inside an identifier
                track(byte)
                return true
            }
            leaveString()
            return try normal(byte)
        case .dollarTag:
            if byte == 0x24 {
                mode = .dollarBody
                tagProgress = 0
                track(byte)
                return true
            }
            if isIdentifierContinuation(byte), !(tag.isEmpty && isDigit(byte)), tag.count < Self.maxDollarTagBytes {
                tag.append(byte)
                track(byte)
                return true
            }
            if tag.count >= Self.maxDollarTagBytes, isIdentifierContinuation(byte) {
                throw Refusal(line: line, command: "$" + String(decoding: tag.prefix(20), as: UTF8.self) + "…",
                              reason: "is a dollar-quote tag longer than \(Self.maxDollarTagBytes) bytes; pg_dump never writes one")
            }
            // Not a dollar quote: "$" was an operator character, and the tag an identifier.
            mode = .normal
            let pending = tag
            tag.removeAll(keepingCapacity: true)
            previous = 0x24
            previousIsIdentifier = false
            beforePreviousIsIdentifier = false
            for character in pending { _ = try normal(character) }
            return try normal(byte)
        case .dollarBody:
            // The closing delimiter is "$" + tag + "$".
            let expected: UInt8 = tagProgress == 0 || tagProgress == tag.count + 1 ? 0x24 : tag[tagProgress - 1]
            if byte == expected {
                tagProgress += 1
                if tagProgress == tag.count + 2 {
                    mode = .normal
                    tag.removeAll(keepingCapacity: true)
                    previous = 0
                    previousIsIdentifier = false
                }
            } else {
                tagProgress = byte == 0x24 ? 1 : 0
            }
            track(byte)
            return true
        case .lineComment:
            if byte == 0x0A || byte == 0x0D {
                mode = .normal
                previous = 0
                previousIsIdentifier = false
                if byte == 0x0A { newLine() }
                return true
            }
            track(byte)
            return true
        case .blockComment:
            if commentPrevious == 0x2A, byte == 0x2F {
                commentDepth -= 1
                commentPrevious = 0
                if commentDepth == 0 {
                    mode = .normal
                    previous = 0
                    previousIsIdentifier = false
                }
            } else if commentPrevious == 0x2F, byte == 0x2A {
                commentDepth += 1
                commentPrevious = 0
            } else {
                commentPrevious = byte
            }
            track(byte)
            return true
        case .metaLine, .copyData, .refusing:
            return true
        }
    }

    /// A byte in normal mode (outside quotes and comments).
    private mutating func normal(_ byte: UInt8) throws -> Bool {
        if byte == 0x5C {
            return false
        }
        let wasEmpty = statementEmpty
        let afterUnicodePrefix = wordPendingAmpersand && previous == 0x26
        wordPendingAmpersand = false
        finishWord(next: byte)
        // A "-" or "/" that does not start a comment was text.
        if (previous == 0x2D && byte != 0x2D) || (previous == 0x2F && byte != 0x2A) { statementEmpty = false }
        switch byte {
        case 0x0A:
            endLine()
            return true
        case 0x27: // '
            let previousIsPrefix = previousIsIdentifier && !beforePreviousIsIdentifier
            if previousIsPrefix, previous == 0x45 || previous == 0x65 {
                escapes = true // E'...'
            } else if (previousIsPrefix && [0x42, 0x62, 0x58, 0x78].contains(previous)) || afterUnicodePrefix {
                escapes = false // B'...', X'...', U&'...'
            } else {
                escapes = !standardConformingStrings
            }
            escapeNext = false
            mode = .quoted
            statementEmpty = false
        case 0x22: // "
            mode = .doubleQuoted
            statementEmpty = false
        case 0x24 where previousIsIdentifier && tokenStartsWithDigit:
            // psql 15 reads "1$a$" as a number and a dollar quote, other versions differently.
            throw Refusal(line: line, command: "$", reason: "follows a number directly, which psql versions read differently; pg_dump never writes it")
        case 0x24 where !previousIsIdentifier: // $
            mode = .dollarTag
            tag.removeAll(keepingCapacity: true)
            statementEmpty = false
        case 0x2D where previous == 0x2D: // --
            mode = .lineComment
        case 0x2A where previous == 0x2F: // /*
            mode = .blockComment
            commentDepth = 1
            commentPrevious = 0
        case 0x28:
            parenDepth += 1
            statementEmpty = false
        case 0x29:
            if parenDepth > 0 { parenDepth -= 1 }
            statementEmpty = false
        case 0x3B: // ;
            if parenDepth == 0, beginDepth == 0 {
                identifierCount = 0
                identifiers = [0, 0, 0, 0]
                statementEmpty = true
                terminationsOnLine += 1
            } else {
                statementEmpty = false
            }
        case 0x20, 0x09, 0x0D, 0x0C, 0x2D, 0x2F:
            break // whitespace, or perhaps the start of a comment
        default:
            if !previousIsIdentifier, isIdentifierContinuation(byte) {
                tokenStartsWithDigit = isDigit(byte)
                word.removeAll(keepingCapacity: true)
                wordOverflow = false
                if isIdentifierStart(byte) { word.append(lowercased(byte)) }
            } else if previousIsIdentifier, isIdentifierContinuation(byte), !word.isEmpty {
                if word.count < 9 { word.append(lowercased(byte)) } else { wordOverflow = true }
            }
            statementEmpty = false
        }
        if wasEmpty, !statementEmpty {
            statementHead.removeAll(keepingCapacity: true)
            capturingHead = true
            if previous == 0x2D || previous == 0x2F { statementHead.append(previous) }
        }
        track(byte)
        beforePreviousIsIdentifier = previousIsIdentifier
        previousIsIdentifier = mode == .normal && isIdentifierContinuation(byte)
        previous = mode == .normal ? byte : 0
        return true
    }

    /// Ends an identifier when `next` cannot continue it, counting it the way psql does to find the
    /// `BEGIN ... END` of `CREATE FUNCTION ... BEGIN ATOMIC`, inside which `;` does not end the statement.
    private mutating func finishWord(next: UInt8) {
        guard !word.isEmpty else { return }
        if isIdentifierContinuation(next), mode == .normal, previousIsIdentifier { return }
        // E'', B'', X'', N'' and U&'' are string prefixes, not identifiers.
        if next == 0x27, !wordOverflow, word.count == 1, [0x65, 0x62, 0x78, 0x6E].contains(word[0]) {
            word.removeAll(keepingCapacity: true)
            return
        }
        if next == 0x26, !wordOverflow, word == [0x75] {
            wordPendingAmpersand = true
            word.removeAll(keepingCapacity: true)
            return
        }
        let text = wordOverflow ? "" : String(decoding: word, as: UTF8.self)
        word.removeAll(keepingCapacity: true)
        wordOverflow = false
        if ["create", "function", "procedure", "or", "replace"].contains(text), identifierCount < identifiers.count {
            identifiers[identifierCount] = text.utf8.first!
        }
        identifierCount += 1
        let inRoutine = identifiers[0] == 0x63 && (identifiers[1] == 0x66 || identifiers[1] == 0x70
            || (identifiers[1] == 0x6F && identifiers[2] == 0x72 && (identifiers[3] == 0x66 || identifiers[3] == 0x70)))
        guard inRoutine, parenDepth == 0 else { return }
        switch text {
        case "begin": beginDepth += 1
        case "case": if beginDepth >= 1 { beginDepth += 1 }
        case "end": if beginDepth > 0 { beginDepth -= 1 }
        default: break
        }
    }

    private mutating func leaveString() {
        mode = .normal
        previous = 0
        previousIsIdentifier = false
        beforePreviousIsIdentifier = false
    }

    /// Records a byte of the current line, for recognising `COPY ... FROM stdin;` and
    /// `SET standard_conforming_strings`.
    private mutating func track(_ byte: UInt8) {
        if byte == 0x0A {
            endLine()
            return
        }
        atLineStart = false
        if capturingHead {
            statementHead.append(byte)
            if statementHead.count >= 5 { capturingHead = false }
        }
        lineTail.append(byte)
        if lineTail.count > 13 { lineTail.removeFirst() }
        guard lineStartsStatement else { return }
        if lineHead.count < 40 { lineHead.append(byte) }
    }

    private mutating func endLine() {
        let finished = mode == .normal && statementEmpty && parenDepth == 0 && beginDepth == 0
        if finished, terminationsOnLine == 1 {
            var tail = lineTail[...]
            if tail.last == 0x0D { tail = tail.dropLast() }
            var whole = lineHead[...]
            if whole.last == 0x0D { whole = whole.dropLast() }
            if policy.allowsCopyData, statementHead.elementsEqual("COPY ".utf8), tail.suffix(12).elementsEqual(" FROM stdin;".utf8) {
                mode = .copyData
                dataLineLength = 0
            } else if lineStartsStatement, whole.elementsEqual("SET standard_conforming_strings = on;".utf8) {
                standardConformingStrings = true
            } else if lineStartsStatement, whole.elementsEqual("SET standard_conforming_strings = off;".utf8) {
                standardConformingStrings = false
            }
        }
        newLine()
    }

    private mutating func newLine() {
        line += 1
        atLineStart = true
        terminationsOnLine = 0
        lineHead.removeAll(keepingCapacity: true)
        lineTail.removeAll(keepingCapacity: true)
        lineStartsStatement = mode == .normal && statementEmpty && parenDepth == 0 && beginDepth == 0
        if mode == .normal {
            previous = 0
            previousIsIdentifier = false
            beforePreviousIsIdentifier = false
        }
    }

    private mutating func endDataLine() {
        let terminator = (dataLineLength == 2 && dataLineHead.0 == 0x5C && dataLineHead.1 == 0x2E)
            || (dataLineLength == 3 && dataLineHead.0 == 0x5C && dataLineHead.1 == 0x2E && dataLineHead.2 == 0x0D)
        dataLineLength = 0
        line += 1
        if terminator {
            mode = .normal
            statementEmpty = true
            lineStartsStatement = true
            atLineStart = true
            terminationsOnLine = 0
            lineHead.removeAll(keepingCapacity: true)
            lineTail.removeAll(keepingCapacity: true)
            previous = 0
            previousIsIdentifier = false
            beforePreviousIsIdentifier = false
        }
    }

    // MARK: Meta-command lines

    /// The line psql reads instead of a held-back meta-command line, with its newline; or a refusal.
    private func checkedMetaLine() throws -> [UInt8] {
        var text = metaLine[...]
        if text.last == 0x0D { text = text.dropLast() }
        let content = String(decoding: text, as: UTF8.self)
        if let key = argument(of: "\\restrict", in: content) ?? argument(of: "\\unrestrict", in: content) {
            guard !key.isEmpty, key.count <= 128, key.utf8.allSatisfy({ isASCIIAlphanumeric($0) }) else {
                throw refusal(metaLine, "has a key other than the letters and digits pg_dump writes")
            }
            return [0x0A] // psql already runs restricted, under our key
        }
        if let target = argument(of: "\\connect", in: content) {
            guard policy.allowsConnect else {
                throw refusal(metaLine, "would connect to another database; pg_dump writes no \\connect in a dump of one database")
            }
            guard Self.isPgDumpConnectTarget(target) else {
                throw refusal(metaLine, "names its database in a form pg_dump never writes")
            }
            return Array("\\unrestrict \(restrictKey) \\connect \(target) \\restrict \(restrictKey)\n".utf8)
        }
        throw refusal(metaLine, "is not one pg_dump writes (it writes only \\restrict, \\unrestrict\(policy.allowsConnect ? ", \\connect" : "") and COPY data)")
    }

    /// The rest of `line` after `command` and one space, if the line is that command.
    private func argument(of command: String, in line: String) -> String? {
        guard line.hasPrefix(command + " ") else { return nil }
        return String(line.dropFirst(command.count + 1))
    }

    /// `\connect` as pg_dump's appendPsqlMetaConnect writes it: `name` of `[A-Za-z0-9_.]`, or
    /// `-reuse-previous=on "dbname='...'"` / `"Name"` double-quoted with `""` for a quote; no backquote
    /// (psql would run it as a shell command), no `:` outside the quotes (psql variables).
    static func isPgDumpConnectTarget(_ target: String) -> Bool {
        var rest = Substring(target)
        if rest.hasPrefix("-reuse-previous=on ") { rest = rest.dropFirst("-reuse-previous=on ".count) }
        guard !rest.isEmpty, !rest.contains("`") else { return false }
        if rest.first == "\"" {
            guard rest.count >= 2, rest.last == "\"" else { return false }
            let inner = rest.dropFirst().dropLast()
            return !inner.replacingOccurrences(of: "\"\"", with: "").contains("\"")
        }
        return rest.utf8.allSatisfy { isASCIIAlphanumeric($0) || $0 == 0x5F || $0 == 0x2E }
    }

    private func middleOfLineRefusal() -> Refusal {
        refusal(metaLine, "is not allowed in the middle of a line; pg_dump never writes one there")
    }

    private func refusal(_ bytes: [UInt8], _ reason: String) -> Refusal {
        let firstLine = bytes.prefix { $0 != 0x0A }
        var shown = String(decoding: firstLine.prefix(Self.maxShownBytes), as: UTF8.self)
        shown = String(shown.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        if firstLine.count > Self.maxShownBytes { shown += "…" }
        return Refusal(line: line, command: shown, reason: reason)
    }
}

private func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

/// psql's ident_start: a letter, `_`, or any byte of a multibyte character.
private func isIdentifierStart(_ byte: UInt8) -> Bool {
    (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte >= 0x80
}

/// psql's ident_cont: ident_start, a digit, or `$`.
private func isIdentifierContinuation(_ byte: UInt8) -> Bool {
    isIdentifierStart(byte) || isDigit(byte) || byte == 0x24
}

private func lowercased(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte }
