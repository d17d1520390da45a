@testable import BackupSources
import Foundation
import Testing

/// The guard between a plain dump and psql, on its own: what pg_dump writes passes (with `\restrict`
/// lines blanked), every other meta-command is refused with its line, however the stream is cut into
/// chunks.
@Suite struct PlainDumpGuardTests {
    static let key = "TESTKEY0123456789abcdefghijklmno"

    /// Feeds `input` whole, byte by byte, and in uneven chunks; all three must agree. Returns what psql
    /// would read, or the refusal.
    func check(_ input: String, policy: PlainDumpGuard.Policy = .databaseDump,
               sourceLocation: SourceLocation = #_sourceLocation) -> Result<String, PlainDumpGuard.Refusal> {
        let bytes = Array(input.utf8)
        var results: [Result<[UInt8], PlainDumpGuard.Refusal>] = []
        for sizes in [[bytes.count], [1], [7, 1, 3, 64, 2, 5]] {
            var dumpGuard = PlainDumpGuard(policy: policy, restrictKey: Self.key)
            var out: [UInt8] = []
            var offset = 0
            var turn = 0
            do {
                while offset < bytes.count {
                    let size = max(1, min(sizes[turn % sizes.count], bytes.count - offset))
                    turn += 1
                    try bytes[offset..<offset + size].withUnsafeBytes { try dumpGuard.feed($0) { out.append(contentsOf: $0) } }
                    offset += size
                }
                try dumpGuard.finish { out.append(contentsOf: $0) }
                results.append(.success(out))
            } catch let refusal as PlainDumpGuard.Refusal {
                results.append(.failure(refusal))
            } catch {
                Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            }
        }
        #expect(results.count == 3 && results.allSatisfy { $0 == results[0] }, "chunking changes the outcome: \(results)", sourceLocation: sourceLocation)
        return results[0].map { String(decoding: $0, as: UTF8.self) }
    }

    func expectPassed(_ input: String, policy: PlainDumpGuard.Policy = .databaseDump, as expected: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        switch check(input, policy: policy, sourceLocation: sourceLocation) {
        case .success(let output): #expect(output == (expected ?? input), sourceLocation: sourceLocation)
        case .failure(let refusal): Issue.record("refused: \(refusal)", sourceLocation: sourceLocation)
        }
    }

    func expectRefused(_ input: String, policy: PlainDumpGuard.Policy = .databaseDump, line: Int, command: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        switch check(input, policy: policy, sourceLocation: sourceLocation) {
        case .success(let output): Issue.record("passed, psql would read: \(output.prefix(300))", sourceLocation: sourceLocation)
        case .failure(let refusal):
            #expect(refusal.line == line, "\(refusal)", sourceLocation: sourceLocation)
            #expect(refusal.command.hasPrefix(command), "\(refusal)", sourceLocation: sourceLocation)
        }
    }

    @Test func whatPgDumpWritesPasses() {
        let dump = """
        --
        -- PostgreSQL database dump
        --

        \\restrict AbC123xyz

        -- Dumped from database version 15.18
        SET standard_conforming_strings = on;
        SELECT pg_catalog.set_config('search_path', '', false);
        CREATE FUNCTION public."back\\slash"(t text) RETURNS text
            LANGUAGE plpgsql
            AS $_$ BEGIN RETURN replace(t, E'\\\\', '/') || E'\\n' || $x$ \\! not a command $x$; END $_$;
        CREATE TABLE public."we\\ird" ("col\\umn" text DEFAULT 'C:\\' NOT NULL, b bytea DEFAULT '\\x00ff'::bytea);
        COMMENT ON TABLE public."we\\ird" IS 'it''s a \\ table';
        -- Name: we\\ird; Type: TABLE; Schema: public; Owner: postgres
        /* a block /* nested \\! */ comment \\ */ SELECT 1;
        COPY public."we\\ird" ("col\\umn", b) FROM stdin;
        \\N\t\\\\x00
        a\\\\b\\nc\t\\\\xff
        \\! inside COPY data this is data
        \\.
        SELECT 'a'
          'continued \\ string';

        \\unrestrict AbC123xyz

        """
        let expected = dump.replacingOccurrences(of: "\\restrict AbC123xyz", with: "").replacingOccurrences(of: "\\unrestrict AbC123xyz", with: "")
        expectPassed(dump, as: expected)
    }

    @Test(arguments: [
        ("\\! touch /tmp/x\nSELECT 1;\n", 1, "\\! touch /tmp/x"),
        ("SELECT 1;\nSELECT 2 \\! id\n", 2, "\\! id"),
        ("SELECT 1;\n  \\! id\n", 2, "\\! id"),
        ("\\o |sh\n", 1, "\\o |sh"),
        ("\\set ON_ERROR_STOP 0\n", 1, "\\set ON_ERROR_STOP 0"),
        ("\\copy t from program 'id'\n", 1, "\\copy t from program"),
        ("SELECT 1 \\g |sh\n", 1, "\\g |sh"),
        ("SELECT 'a' \\gexec\n", 1, "\\gexec"),
        ("SELECT 'a';\n\\.\n", 2, "\\."),
        ("SELECT $$a$$ \\! id\n", 1, "\\! id"),
        ("SELECT \"x\" \\! id\n", 1, "\\! id"),
        ("SELECT 1; /* */ \\! id\n", 1, "\\! id"),
        ("-- comment\r\\! id\n", 1, "\\! id"), // psql ends a comment at a carriage return
        ("SELECT 'a\\' \\! id '\n", 1, "\\! id '"), // standard_conforming_strings on: the backslash is text
        ("SET standard_conforming_strings = off;\nSELECT 'x\\'' \\! id --'\n", 2, "\\! id --'"),
        ("\\restrict bad-key!\n", 1, "\\restrict bad-key!"),
        ("\\restrict\n", 1, "\\restrict"),
        ("\\connect postgres\n", 1, "\\connect postgres"), // a dump of one database has none
        ("COPY t (a) FROM stdin;\n\\N\n\\.\n\\! id\n", 4, "\\! id"), // after the data block ends
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;\nCOPY t FROM stdin;\n\\! id\nEND;\n", 3, "\\! id"),
        ("SELECT (1;\nCOPY t FROM stdin;\n\\! id\n", 3, "\\! id"), // inside parentheses ';' does not end the statement
        ("SELECT 1\nCOPY t FROM stdin;\n\\! id\n", 3, "\\! id"), // not the start of a statement
        ("COPY t TO stdout; SELECT 1 FROM stdin;\n\\! id\n", 2, "\\! id"),
        ("SELECT 1$a$ x $a$ \\! id\n", 1, "$"),
    ])
    func metaCommandsPgDumpDoesNotWriteAreRefused(input: String, line: Int, command: String) {
        expectRefused(input, line: line, command: command)
    }

    @Test func theGlobalsDumpMayConnectButHasNoCopyData() {
        let connects = "\\connect postgres\n\\connect \"My DB\"\n\\connect -reuse-previous=on \"dbname='we''ird \"\"db\"\"'\"\n"
        let k = Self.key
        expectPassed(connects, policy: .globalsDump, as: """
        \\unrestrict \(k) \\connect postgres \\restrict \(k)
        \\unrestrict \(k) \\connect "My DB" \\restrict \(k)
        \\unrestrict \(k) \\connect -reuse-previous=on "dbname='we''ird ""db""'" \\restrict \(k)

        """)
        expectRefused("\\connect `id`\n", policy: .globalsDump, line: 1, command: "\\connect `id`")
        expectRefused("\\connect \"a\" \\! id\n", policy: .globalsDump, line: 1, command: "\\connect \"a\"")
        expectRefused("\\connect :var\n", policy: .globalsDump, line: 1, command: "\\connect :var")
        expectRefused("\\connect db \\! id\n", policy: .globalsDump, line: 1, command: "\\connect db")
        expectRefused("COPY t FROM stdin;\n\\N\n", policy: .globalsDump, line: 2, command: "\\N")
    }

    @Test func crlfLineEndings() {
        let dump = "\\restrict K1\r\nSET standard_conforming_strings = on;\r\nCOPY t (a) FROM stdin;\r\n\\N\r\n\\! data\r\n\\.\r\nSELECT 1;\r\n\\unrestrict K1\r\n"
        expectPassed(dump, as: dump.replacingOccurrences(of: "\\restrict K1\r", with: "").replacingOccurrences(of: "\\unrestrict K1\r", with: ""))
        expectRefused("COPY t (a) FROM stdin;\r\n\\N\r\n\\.\r\n\\! id\r\n", line: 4, command: "\\! id")
    }

    @Test func veryLongLines() {
        let data = String(repeating: "\\\\x00\\N\\t", count: 200_000)
        let sql = "SELECT '" + String(repeating: "a\\", count: 100_000) + "';\n"
        let dump = "COPY t (a) FROM stdin;\n\(data)\n\\.\n\(sql)"
        expectPassed(dump)
        // A meta-command line longer than the guard holds back is refused, not buffered without end.
        expectRefused("\\restrict " + String(repeating: "k", count: 5000) + "\n", line: 1, command: "\\restrict kkk")
        // A long refused command is shortened in the error.
        if case .failure(let refusal) = check("\\! " + String(repeating: "x", count: 500) + "\n") {
            #expect(refusal.command.count == PlainDumpGuard.maxShownBytes + 1 && refusal.command.hasSuffix("…"), "\(refusal.command)")
        } else {
            Issue.record("not refused")
        }
    }

    @Test func aMetaCommandSplitAcrossChunksIsHeldBackUntilChecked() throws {
        // Whatever the cut, nothing of the refused line reaches psql.
        let input = Array("SELECT 1;\n\\! touch /tmp/x\n".utf8)
        for cut in 1..<input.count {
            var dumpGuard = PlainDumpGuard(policy: .databaseDump, restrictKey: Self.key)
            var out: [UInt8] = []
            #expect(throws: PlainDumpGuard.Refusal.self) {
                try input[..<cut].withUnsafeBytes { try dumpGuard.feed($0) { out.append(contentsOf: $0) } }
                try input[cut...].withUnsafeBytes { try dumpGuard.feed($0) { out.append(contentsOf: $0) } }
                try dumpGuard.finish { out.append(contentsOf: $0) }
            }
            #expect(!String(decoding: out, as: UTF8.self).contains("\\"), "cut at \(cut): \(String(decoding: out, as: UTF8.self))")
        }
        // A last line without a newline is checked too.
        var dumpGuard = PlainDumpGuard(policy: .databaseDump)
        _ = try dumpGuard.feed(Array("SELECT 1;\n\\! id".utf8))
        #expect(throws: PlainDumpGuard.Refusal.self) { try dumpGuard.finish { _ in } }
    }

    @Test func refusalsReadWell() {
        guard case .failure(let refusal) = check("SELECT 1;\n\\! rm -rf \u{1b}[2J /\n") else {
            Issue.record("not refused")
            return
        }
        #expect(refusal.description == "line 2: the psql meta-command `\\! rm -rf ?[2J /` is not one pg_dump writes (it writes only \\restrict, \\unrestrict and COPY data)")
    }

    @Test func restrictKeysAreRandomLettersAndDigits() {
        let first = PlainDumpGuard.makeRestrictKey(), second = PlainDumpGuard.makeRestrictKey()
        #expect(first.count == 32 && first != second && first.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
    }
}
