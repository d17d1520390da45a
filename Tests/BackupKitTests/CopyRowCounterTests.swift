@testable import BackupSources
import Testing

/// The row counts a plain dump's COPY blocks give, whatever the chunks it arrives in.
struct CopyRowCounterTests {
    static let dump = """
        --
        -- PostgreSQL database dump
        --
        CREATE TABLE public.t (a text);
        COPY public.empty (a) FROM stdin;
        \\.
        COPY public.t (a, b) FROM stdin;
        1\tone
        \\\\.\tstarts with an escaped backslash, then a dot
        3\t\\N
        \\.
        COPY "Odd ""schema"".x"."a.b c" (x) FROM stdin;
        x
        y
        \\.
        -- COPY public.not_a_header (a) FROM stdin;
        COPY public.nocolumns  FROM stdin;
        \\.

        -- PostgreSQL database dump complete

        """

    static let expected: [String: Int64] = ["public.empty": 0, "public.t": 3, "\"Odd \"\"schema\"\".x\".\"a.b c\"": 2, "public.nocolumns": 0]

    @Test func everyTableIsCountedAtEveryChunkBoundary() {
        let bytes = Array(Self.dump.utf8)
        for cut in 0...bytes.count {
            let counter = CopyRowCounter()
            bytes[..<cut].withUnsafeBytes { counter.consume($0) }
            bytes[cut...].withUnsafeBytes { counter.consume($0) }
            #expect(counter.rows == Self.expected, "cut at \(cut)")
            if counter.rows != Self.expected { break }
        }
    }

    @Test func oneByteAtATime() {
        let counter = CopyRowCounter()
        for byte in Self.dump.utf8 { [byte].withUnsafeBytes { counter.consume($0) } }
        #expect(counter.rows == Self.expected)
    }

    @Test func onlyCopyLinesName() {
        #expect(CopyRowCounter.copyTarget(Array("COPY public.t (a) FROM stdin;".utf8)) == "public.t")
        #expect(CopyRowCounter.copyTarget(Array("COPY public.t (a) TO stdout;".utf8)) == nil)
        #expect(CopyRowCounter.copyTarget(Array("COPY t (a) FROM stdin;".utf8)) == nil)
        #expect(CopyRowCounter.copyTarget(Array("COPY \"unterminated.t (a) FROM stdin;".utf8)) == nil)
    }
}
