import BackupKit
@testable import BackupSources
import Crypto
import Foundation
import Testing

/// A plain dump changed after the backup (with its size and SHA-256 fixed in the manifest, so the
/// integrity check passes) must never make psql run a shell command: not on restore, not in
/// `verify --restore-test`, not in the drill of a run.
extension PostgresTests {
    /// Replaces the plain dump's SQL with `edit(sql)`, gzipped again, and records its new size and
    /// SHA-256 in the manifest, signed again with the plan's key (the guard must hold even against
    /// whoever holds the key).
    func tamper(_ dir: TemporaryDirectory, subject: String, _ edit: (String) -> String) throws {
        let backups = dir.sub("backups")
        let names = BackupctlTests.finalNames(backups)
        let dumpName = try #require(names.first { $0.hasPrefix("db_\(subject)_") && $0.hasSuffix(".sql.gz") }, "\(names)")
        let manifestName = try #require(names.first { $0.hasPrefix("manifest_") })
        let plain = try runProcess("/bin/gunzip", ["-c", "\(backups)/\(dumpName)"])
        try #require(plain.status == 0, "\(plain.stderr)")
        try writeFile(dir.sub("tampered.sql"), edit(plain.stdout))
        let gzip = try runProcess("/bin/sh", ["-c", "gzip -c tampered.sql > tampered.sql.gz"], directory: dir.path)
        try #require(gzip.status == 0, "\(gzip.stderr)")
        let bytes = try #require(readFile(dir.sub("tampered.sql.gz")))
        try writeFile("\(backups)/\(dumpName)", bytes, mode: 0o600)
        var manifest = try Manifest.decode(readFile("\(backups)/\(manifestName)")!, key: manifestName)
        let index = try #require(manifest.artifacts.firstIndex { $0.name == dumpName })
        manifest.artifacts[index].size = Int64(bytes.count)
        manifest.artifacts[index].sha256 = SHA256.hash(data: bytes).hexString
        try writeSignedManifest(manifest, in: backups, plan: manifest.plan)
    }

    /// A small fixture database and a workspace for it; `body` gets the database, the workspace and the
    /// path a planted `touch` would create.
    func withTamperFixture(_ label: String, source: String = "", plan: String = "",
                           _ body: (_ database: String, _ dir: TemporaryDirectory, _ marker: String) throws -> Void) throws {
        let database = TestPostgres.uniqueName("bk_\(label)"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role, rows: 20)
        let dir = try workspace("pg-\(label)", database: database, source: source, plan: plan)
        defer { dir.remove() }
        try body(database, dir, dir.sub("shell-ran"))
    }

    /// `\! touch` at the top of the dump, and in the middle of an SQL line: restore, verify --restore-test
    /// and the drill fail with an error naming the artifact, the line and the command, the file is never
    /// created, and nothing is left in the target database.
    @Test(arguments: [
        ("\\! touch MARKER\n", "line 1: the psql meta-command `\\! touch MARKER`"),
        ("SELECT 1 \\! touch MARKER\n", "line 1: the psql meta-command `\\! touch MARKER`"),
        ("CREATE TABLE planted (i int);\n\\o |touch MARKER\n", "line 2: the psql meta-command `\\o |touch MARKER`"),
    ])
    func aTamperedPlainDumpNeverRunsAShellCommand(prefix: String, expected: String) throws {
        try withTamperFixture("tamper") { database, dir, marker in
            let backup = try run(["run"], in: dir)
            try #require(backup.status == 0, "\(backup.stderr)")
            try tamper(dir, subject: database) { prefix.replacingOccurrences(of: "MARKER", with: marker) + $0 }
            let shown = expected.replacingOccurrences(of: "MARKER", with: marker)
            let target = TestPostgres.uniqueName("bk_tamper_target")
            defer { pg.dropDatabase(target) }

            let restore = try run(["restore", "--latest", "--only", "db", "--to-database", target], in: dir)
            #expect(restore.status == 8, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("db_\(database)_") && restore.stderr.contains(shown) && restore.stderr.contains("rolled back"), "\(restore.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the shell command never ran")
            #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname = '\(target)'") == "0", "the half-loaded database is dropped")

            let verify = try run(["verify", "--latest", "--restore-test"], in: dir)
            #expect(verify.status == 3, "\(verify.stdout)\(verify.stderr)")
            #expect(verify.stdout.contains(shown) && !verify.stdout.contains("all counts match"), "\(verify.stdout)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the shell command never ran")
            #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'backupkit_drill_%'") == "0", "scratch databases are dropped")
            let names = BackupctlTests.finalNames(dir.sub("backups"))
            let manifestName = try #require(names.first { $0.hasPrefix("manifest_") })
            let recorded = try Manifest.decode(readFile(dir.sub("backups/\(manifestName)"))!, key: manifestName)
            let drill = try #require(recorded.artifacts.first { $0.name.hasPrefix("db_\(database)_") }?.restoreTest)
            #expect(drill.passed == false, "the failed drill is recorded in the manifest")
        }
    }

    /// SQL that reads differently to the guard than to psql: it turns standard_conforming_strings off
    /// behind the guard's back, so psql reads `'x\''` as a closed string and the next line as a
    /// meta-command, while the guard still sees a string and lets it through. psql run as the restore
    /// runs it (restricted under the guard's key) refuses the meta-command; unrestricted it would run it.
    /// And end to end the restore fails without running it.
    @Test func psqlsRestrictModeStopsWhatTheGuardCannotSee() throws {
        try withTamperFixture("tamper2") { database, dir, marker in
            let sneaky = "SELECT set_config('standard_conforming_strings', 'off', false);\nSELECT 'x\\''\n\\! touch \(marker)\nSELECT 'y';\n"

            var dumpGuard = PlainDumpGuard(policy: .databaseDump)
            let forwarded = try dumpGuard.feed(Array(sneaky.utf8))
            #expect(forwarded == Array(sneaky.utf8), "the guard alone does not see this one")
            try writeFile(dir.sub("sneaky.sql"), forwarded)
            let psql = pg.bin + "/psql"
            let common = ["--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction", "--dbname=\(database)"]
            let unrestricted = try runProcess(psql, common + ["--file=sneaky.sql"], environment: pg.environment, directory: dir.path)
            #expect(FileManager.default.fileExists(atPath: marker), "without restrict mode psql runs it: \(unrestricted.stderr)")
            try? FileManager.default.removeItem(atPath: marker)
            let restricted = try runProcess(psql, common + ["--command=\\restrict \(dumpGuard.restrictKey)", "--file=sneaky.sql"],
                                            environment: pg.environment, directory: dir.path)
            #expect(restricted.status == 3 && restricted.stderr.contains("sneaky.sql:3: error: backslash commands are restricted"), "\(restricted.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "restricted, psql never runs it")

            #expect(try run(["run"], in: dir).status == 0)
            try tamper(dir, subject: database) { sneaky + $0 }
            let target = TestPostgres.uniqueName("bk_tamper2_target")
            defer { pg.dropDatabase(target) }
            let restore = try run(["restore", "--latest", "--only", "db", "--to-database", target], in: dir)
            #expect(restore.status == 8, "\(restore.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the shell command never ran")
        }
    }

    /// The drill of a run, on a dump whose pg_dump (a wrapper here) writes a meta-command: the run fails
    /// and never reports the drill as passed.
    @Test func theDrillOfARunFailsOnAMetaCommand() throws {
        try withTamperFixture("tamper3", source: "bin_dir: ./bin", plan: "verify: { restore_test: true }") { database, dir, marker in
            try linkTools(["pg_dumpall", "psql", "pg_restore"], into: dir.sub("bin"))
            try writeFile(dir.sub("bin/pg_dump"), """
            #!/bin/bash
            REAL=\(pg.bin)/pg_dump
            if [ "$1" = "--version" ]; then exec "$REAL" --version; fi
            printf '\\\\! touch \(marker)\\n'
            exec "$REAL" "$@"
            """, mode: 0o755)
            let backup = try run(["run"], in: dir)
            #expect(backup.status != 0, "\(backup.stdout)\(backup.stderr)")
            #expect((backup.stdout + backup.stderr).contains("line 1: the psql meta-command `\\! touch \(marker)`"), "\(backup.stdout)\(backup.stderr)")
            #expect(!backup.stdout.contains("restore drill passed"), "\(backup.stdout)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the shell command never ran")
            #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'backupkit_drill_%'") == "0", "scratch databases are dropped")
        }
    }

    /// Objects whose dump is full of backslashes: names, function bodies in dollar quotes (with a
    /// nested `$$` and `\!` inside), a SQL-standard `BEGIN ATOMIC` body, string literals, a view,
    /// a check constraint, comments, and COPY data with backslashes, newlines and a lone `\.`.
    static let trickySQL = #"""
        CREATE TABLE public."back\slash" ("col\umn" text DEFAULT '\' CHECK ("col\umn" <> 'C:\x\'), "new
        line" text, b bytea);
        INSERT INTO public."back\slash" VALUES (E'a\\b\nc\td\\.', E'\\.', '\x00ff'), (E'\\.\n\\.', E'line1\n\\.\nline3', NULL),
            (E'\\! id', E'\\connect x', E'\\x5c'::bytea);
        CREATE FUNCTION public.slashes(t text) RETURNS text LANGUAGE plpgsql AS $$
        BEGIN RETURN replace(t, E'\\', '/') || E'\n' || '\'; END $$;
        CREATE FUNCTION public.nested() RETURNS text LANGUAGE sql AS $_$ SELECT $$\! id$$ || E'\\' $_$;
        CREATE FUNCTION public.atomic(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; SELECT CASE WHEN a > 0 THEN a END; END;
        CREATE VIEW public."view\one" AS SELECT '\' AS slash, E'\\n' AS escaped, $$\$$ AS dollar;
        COMMENT ON TABLE public."back\slash" IS 'it''s C:\ and \! and -- and /*';
        COMMENT ON COLUMN public."back\slash"."col\umn" IS E'\\connect postgres';
        """#

    /// Real pg_dump output of that database, standard_conforming_strings on and off: the guard refuses
    /// nothing however it is chunked and only blanks the \restrict lines, and backupctl restores it
    /// (through the restricted psql) with every row, function and view intact.
    @Test(arguments: [true, false])
    func realDumpsWithTrickyContentPassTheGuard(standardConformingStrings: Bool) throws {
        let database = TestPostgres.uniqueName("bk_tricky"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role, rows: 50)
        try pg.psql(Self.trickySQL, database: database)
        if !standardConformingStrings { try pg.psql("ALTER DATABASE \(database) SET standard_conforming_strings = off") }
        let dump = try runProcess(pg.bin + "/pg_dump", ["-d", database], environment: pg.environment)
        try #require(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdout.contains("SET standard_conforming_strings = \(standardConformingStrings ? "on" : "off");"))
        #expect(dump.stdout.contains("\n\\restrict ") && dump.stdout.contains("BEGIN ATOMIC"))
        let bytes = Array(dump.stdout.utf8)
        let expected = dump.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("\\restrict ") || $0.hasPrefix("\\unrestrict ") ? "" : $0 }.joined(separator: "\n")
        for chunkSize in [bytes.count, 4096, 97, 1] {
            var dumpGuard = PlainDumpGuard(policy: .databaseDump)
            var out: [UInt8] = []
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + chunkSize)
                try bytes[offset..<end].withUnsafeBytes { try dumpGuard.feed($0) { out.append(contentsOf: $0) } }
                offset = end
            }
            try dumpGuard.finish { out.append(contentsOf: $0) }
            #expect(String(decoding: out, as: UTF8.self) == expected, "chunks of \(chunkSize)")
        }

        let routines = "SELECT string_agg(pg_get_functiondef(p.oid), E'\\n' ORDER BY pg_get_functiondef(p.oid)) FROM pg_proc p JOIN pg_namespace n ON n.oid = pronamespace WHERE nspname = 'public'"
        let views = "SELECT pg_get_viewdef(E'public.\"view\\\\one\"'::regclass) || (SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM public.\"view\\one\" t)"
        // Definitions are shown as the session's standard_conforming_strings wants them: compare with it on.
        let queries = [PostgresFixture.contentQuery, routines, views].map { "SET standard_conforming_strings = on; " + $0 }
        let before = try queries.map { try pg.psql($0, database: database) }
        let dir = try workspace("pg-tricky", database: database)
        defer { dir.remove() }
        let backup = try run(["run"], in: dir)
        #expect(backup.status == 0, "\(backup.stderr)")
        let target = TestPostgres.uniqueName("bk_tricky_target")
        defer { pg.dropDatabase(target) }
        let restore = try run(["restore", "--latest", "--only", "db", "--to-database", target], in: dir)
        #expect(restore.status == 0, "\(restore.stderr)")
        let after = try queries.map { try pg.psql($0, database: target) }
        for (name, pair) in zip(["rows", "routines", "views"], zip(before, after)) {
            #expect(pair.0 == pair.1, "\(name) differ:\n\(pair.0)\n---\n\(pair.1)")
        }
        #expect(try pg.psql("SELECT \"col\\umn\" FROM public.\"back\\slash\" ORDER BY 1", database: target).contains("a\\b\nc\td\\."))
    }
}
