import BackupKit
import BackupNotifiers
import BackupSinks
@testable import BackupSources
import Foundation
import Glibc
import Testing

/// The postgres source against a real PostgreSQL 15 server with scram-sha-256 authentication, started
/// by `scripts/test-services`.
@Suite(.serialized) struct PostgresTests {
    let pg: TestPostgres

    init() throws { pg = try TestPostgres.load() }

    /// A working directory with a password file and a plan for one database.
    func workspace(_ label: String, database: String, source extra: String = "", plan planExtra: String = "",
                   password: String? = nil) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try writeFile(dir.sub("pgpass"), (password ?? pg.password) + "\n", mode: 0o600)
        try writeFile(dir.sub("backup.yml"), """
        name: pg
        sources:
          - name: db
            type: postgres
            host: \(pg.host)
            port: \(pg.port)
            user: \(pg.user)
            database: \(database)
            password_file: ./pgpass
        \(extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        sinks:
          - { name: local, type: local, path: ./backups }
        \(planExtra)
        """)
        return dir
    }

    /// The environment backupctl runs with: no PG* variables and an empty HOME, so only the plan's
    /// settings count.
    func cleanEnvironment(_ dir: TemporaryDirectory) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && !$0.key.hasPrefix("BACKUP_") }
        environment["HOME"] = dir.path
        return environment
    }

    func run(_ arguments: [String], in dir: TemporaryDirectory) throws -> ProcessResult {
        try runProcess(backupctlPath, arguments, environment: cleanEnvironment(dir), directory: dir.path)
    }

    func createFixture(database: String, role: String, rows: Int = 2000) throws {
        try pg.psql("CREATE ROLE \(role) NOLOGIN")
        try pg.psql("CREATE DATABASE \(database)")
        try pg.psql(PostgresFixture.sql(role: role, rows: rows), database: database)
    }

    /// A `bin_dir` holding the real `tools`, beside which a test puts a wrapper of its own.
    func linkTools(_ tools: [String], into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for tool in tools { symlink("\(pg.bin)/\(tool)", directory + "/" + tool) }
    }

    func dropRole(_ role: String) {
        _ = try? pg.psql("DROP ROLE IF EXISTS \(role)")
    }

    @Test(arguments: ["plain", "custom"])
    func aDatabaseRoundTripsWithItsRoles(format: String) throws {
        let database = TestPostgres.uniqueName("bk_src"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role)
        let dir = try workspace("pg-roundtrip", database: database, source: "format: \(format)\nglobals: true")
        defer { dir.remove() }
        let schemaBefore = try pg.dump(["--schema-only"], database: database)
        let contentBefore = try pg.psql(PostgresFixture.contentQuery, database: database)

        let backup = try run(["run", "--json"], in: dir)
        #expect(backup.status == 0, "\(backup.stderr)")
        let names = BackupctlTests.finalNames(dir.sub("backups"))
        let dumpName = try #require(names.first { $0.hasPrefix("db_\(database)_") })
        #expect(dumpName.hasSuffix(format == "plain" ? ".sql.gz" : ".dump"), "\(names)")
        #expect(names.contains { $0.hasPrefix("db_globals_") && $0.hasSuffix(".sql.gz") })
        if format == "plain" { #expect(try runProcess("/bin/gunzip", ["-t", dir.sub("backups/\(dumpName)")]).status == 0) }
        let manifestName = try #require(names.first { $0.hasPrefix("manifest_") })
        let manifest = try Manifest.decode(readFile(dir.sub("backups/\(manifestName)"))!, key: manifestName)
        let dumpRecord = try #require(manifest.artifacts.first { $0.name == dumpName })
        #expect(dumpRecord.details["tables"] == .object([
            "public.audit": .integer(2000), "public.empty_table": .integer(0), "sales.orders": .integer(2000),
            "Ünïcode Schema.Tabulka Žluťoučká": .integer(3),
        ]), "\(String(describing: dumpRecord.details["tables"]))")

        // Lose the database and its owner role, then bring both back from the set.
        pg.dropDatabase(database)
        dropRole(role)
        let restore = try run(["restore", "--latest", "--only", "db", "--to-database", database], in: dir)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = '\(role)'") == "1", "the globals dump brought the role back")
        #expect(try pg.dump(["--schema-only"], database: database) == schemaBefore)
        #expect(try pg.psql(PostgresFixture.contentQuery, database: database) == contentBefore)

        // An existing database with data is refused, then replaced on request.
        let again = try run(["restore", "--latest", "--only", "db", "--subject", database, "--to-database", database], in: dir)
        #expect(again.status == 8 && again.stderr.contains("exists and is not empty") && again.stderr.contains("--drop-existing"), "\(again.stderr)")
        let replaced = try run(["restore", "--latest", "--only", "db", "--subject", database, "--to-database", database, "--drop-existing"], in: dir)
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try pg.psql(PostgresFixture.contentQuery, database: database) == contentBefore)

        // A --drop-existing restore whose load fails leaves the existing database as it was.
        try linkTools(["pg_dump", "pg_dumpall", "pg_restore"], into: dir.sub("broken-bin"))
        try writeFile(dir.sub("broken-bin/psql"), "#!/bin/sh\ncat >/dev/null\necho 'ERROR: injected load failure' >&2\nexit 3\n", mode: 0o755)
        try writeFile(dir.sub("broken.yml"), String(decoding: readFile(dir.sub("backup.yml"))!, as: UTF8.self)
            .replacingOccurrences(of: "    password_file: ./pgpass", with: "    password_file: ./pgpass\n    bin_dir: ./broken-bin"))
        if format == "plain" {
            let failed = try run(["restore", "--config", "broken.yml", "--latest", "--only", "db", "--subject", database, "--to-database", database, "--drop-existing"], in: dir)
            #expect(failed.status == 8 && failed.stderr.contains("injected load failure"), "\(failed.stderr)")
            #expect(try pg.psql(PostgresFixture.contentQuery, database: database) == contentBefore, "the old database is untouched")
            #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '\(database)_restore_%'") == "0", "the half-loaded copy is dropped")
        }
    }

    @Test func preflightFailuresEachHaveTheirOwnExitCodeAndMessage() throws {
        let database = TestPostgres.uniqueName("bk_pre"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role)

        let wrongPassword = try workspace("pg-wrongpw", database: database, password: "not-the-password")
        defer { wrongPassword.remove() }
        let refused = try run(["run"], in: wrongPassword)
        #expect(refused.status == 10, "\(refused.stderr)")
        #expect(refused.stderr.contains("password authentication failed for user '\(pg.user)'") && refused.stderr.contains("\(pg.host):\(pg.port)/\(database)")
                && refused.stderr.contains("PGPASSWORD / password_file"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("not-the-password"))

        let noPassword = try TemporaryDirectory("pg-nopw")
        defer { noPassword.remove() }
        try writeFile(noPassword.sub("backup.yml"), """
        sources:
          - { name: db, type: postgres, url: "postgres://\(pg.user)@\(pg.host):\(pg.port)/\(database)" }
        sinks:
          - { name: local, type: local, path: ./backups }
        """)
        let missing = try run(["run"], in: noPassword)
        #expect(missing.status == 6, "\(missing.stderr)")
        #expect(missing.stderr.contains("asks user '\(pg.user)' for a password and none was given"), "\(missing.stderr)")

        let wrongPort = try TemporaryDirectory("pg-port")
        defer { wrongPort.remove() }
        try writeFile(wrongPort.sub("pgpass"), pg.password, mode: 0o600)
        try writeFile(wrongPort.sub("backup.yml"), """
        sources:
          - { name: db, type: postgres, host: \(pg.host), port: 1, user: \(pg.user), database: \(database), password_file: ./pgpass }
        sinks:
          - { name: local, type: local, path: ./backups }
        """)
        let unreachable = try run(["run"], in: wrongPort)
        #expect(unreachable.status == 11 && unreachable.stderr.contains("cannot reach the server") && unreachable.stderr.contains("\(pg.host):1"), "\(unreachable.stderr)")

        let noDatabase = try workspace("pg-nodb", database: "bk_does_not_exist")
        defer { noDatabase.remove() }
        let absent = try run(["run"], in: noDatabase)
        #expect(absent.status == 12 && absent.stderr.contains("the database 'bk_does_not_exist' does not exist"), "\(absent.stderr)")

        for dir in [wrongPassword, noPassword, wrongPort, noDatabase] {
            #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty, "nothing is written after a failed preflight")
        }
    }

    /// Debian 12 ships only PostgreSQL 15, so an older pg_dump is stood in for by a script that reports
    /// version 14; the refusal must name both versions and nothing may be dumped.
    @Test func anOlderPgDumpIsRefused() throws {
        let database = TestPostgres.uniqueName("bk_ver"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role, rows: 10)
        let dir = try workspace("pg-old", database: database, source: "bin_dir: ./old-bin")
        defer { dir.remove() }
        try writeFile(dir.sub("old-bin/pg_dump"), "#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.11'\n", mode: 0o755)
        let result = try run(["run"], in: dir)
        #expect(result.status == 13, "\(result.stderr)")
        #expect(result.stderr.contains("pg_dump 14.11") && result.stderr.contains("older than the server (15."), "\(result.stderr)")
        #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty)
    }

    @Test func aTooSmallStagingVolumeStopsBeforeWriting() async throws {
        let database = TestPostgres.uniqueName("bk_space"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role)
        let dir = try workspace("pg-space", database: database, plan: "staging_dir: ./small")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.sub("small"), withIntermediateDirectories: true)
        let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir.sub("small")])
        try #require(mount.status == 0, "mounting a 1 MiB tmpfs needs root: \(mount.stderr)")
        defer { _ = try? runProcess("/bin/umount", [dir.sub("small")]) }
        let result = try run(["run"], in: dir)
        #expect(result.status == 7, "\(result.stderr)")
        #expect(result.stderr.contains("the staging volume at") && result.stderr.contains("free, but this run needs about"), "\(result.stderr)")
        #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty)

        // The same failure through the library: its own event, and the design document's alert.
        let recorder = RecordingNotifier()
        var events: [BackupEvent] = []
        var plan = try PlanLoader(registry: standardRegistry(), environment: cleanEnvironment(dir)).load(file: dir.sub("backup.yml"))
        plan.notifiers = [FilteredNotifier(recorder)]
        let report = await BackupRunner(plan: plan, logger: testLogger).run { events.append($0) }
        #expect(report.error?.code == .diskSpace)
        #expect(events.contains { if case .preflightFailed(nil, .diskSpace, _) = $0 { true } else { false } })
        #expect(recorder.alerts.map(\.event) == [.diskSpace])
    }

    @Test func missingCredentialsRaiseTheirOwnAlert() async throws {
        let plan = BackupPlan(
            name: "pg",
            sources: [PostgresSource(name: "db", configuration: .init(connection: .init(host: pg.host, port: pg.port, user: pg.user, database: "postgres")),
                                     environment: ["HOME": "/nonexistent", "PATH": "/usr/bin:/bin"])],
            sinks: [InMemorySink()], notifiers: [RecordingNotifier(name: "r")]
        )
        let recorder = try #require(plan.notifiers.first?.base as? RecordingNotifier)
        var events: [BackupEvent] = []
        let report = await BackupRunner(plan: plan, logger: testLogger).run { events.append($0) }
        #expect(report.error?.code == .missingCredentials)
        #expect(events.contains { if case .preflightFailed("db", .missingCredentials, _) = $0 { true } else { false } })
        #expect(recorder.alerts.map(\.event) == [.missingCredentials])
    }

    /// Real pg_dump behind a wrapper that damages its output: a truncated, an empty and a failed dump
    /// must each fail the run.
    @Test(arguments: [
        ("\"$REAL\" \"$@\" | head -c 3000; exit 0", "ends without pg_dump's completion trailer"),
        ("exit 0", "produced no output"),
        ("\"$REAL\" \"$@\" | head -c 3000; echo 'pg_dump: error: connection lost' >&2; exit 1", "exited with status 1: pg_dump: error: connection lost"),
    ])
    func aDamagedDumpFailsTheRun(script: String, expected: String) throws {
        let database = TestPostgres.uniqueName("bk_dmg"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role)
        let dir = try workspace("pg-damaged", database: database, source: "bin_dir: ./bin")
        defer { dir.remove() }
        try linkTools(["pg_dumpall", "psql", "pg_restore"], into: dir.sub("bin"))
        try writeFile(dir.sub("bin/pg_dump"), """
        #!/bin/bash
        REAL=\(pg.bin)/pg_dump
        if [ "$1" = "--version" ]; then exec "$REAL" --version; fi
        \(script)
        """, mode: 0o755)
        let result = try run(["run"], in: dir)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty, "a damaged dump is never stored")
    }

    /// While pg_dump runs, no process's command line holds the password.
    @Test func noPasswordInAnyArgvWhilePgDumpRuns() throws {
        let database = TestPostgres.uniqueName("bk_ps"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role, rows: 10)
        try pg.psql("CREATE TABLE bulk AS SELECT i, md5(i::text) || md5((i * 7)::text) AS v FROM generate_series(1, 600000) i", database: database)
        let dir = try workspace("pg-ps", database: database)
        defer { dir.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: backupctlPath)
        process.arguments = ["run"]
        process.environment = cleanEnvironment(dir)
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var snapshots: [String] = []
        let finished = try waitUntil(timeout: 120) {
            let ps = try runProcess("/bin/ps", ["-eo", "pid,args"])
            snapshots.append(contentsOf: ps.stdout.split(separator: "\n").map(String.init).filter { $0.contains("pg_dump") || $0.contains("backupctl") })
            return !process.isRunning
        }
        if !finished { process.terminate() }
        process.waitUntilExit()
        #expect(finished, "the run finished within two minutes")
        #expect(process.terminationStatus == 0)
        #expect(snapshots.contains { $0.contains("pg_dump --format=plain --snapshot=") }, "ps saw pg_dump running: \(snapshots.prefix(5))")
        #expect(snapshots.contains { $0.contains("pg_dump") && $0.contains("--lock-wait-timeout=300000ms") }, "the default lock_wait_timeout, 5m, reaches pg_dump")
        #expect(!snapshots.contains { $0.contains(pg.password) }, "no argv holds the password")
    }

    @Test func theRestoreDrillChecksEveryTableAndIsRecorded() throws {
        let database = TestPostgres.uniqueName("bk_drill"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role)
        let dir = try workspace("pg-drill", database: database, plan: "verify: { restore_test: true }")
        defer { dir.remove() }
        let backup = try run(["run"], in: dir)
        #expect(backup.status == 0 && backup.stdout.contains("restore drill passed"), "\(backup.stdout)\(backup.stderr)")
        let verify = try run(["verify", "--latest", "--restore-test"], in: dir)
        #expect(verify.status == 0 && verify.stdout.contains("all counts match the manifest"), "\(verify.stdout)\(verify.stderr)")
        #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'backupkit_drill_%'") == "0", "scratch databases are dropped")

        // A manifest that expects other counts than the dump holds: the drill must fail and say where.
        let manifestName = try #require(BackupctlTests.finalNames(dir.sub("backups")).first { $0.hasPrefix("manifest_") })
        var manifest = try Manifest.decode(readFile(dir.sub("backups/\(manifestName)"))!, key: manifestName)
        manifest.artifacts[0].details["tables"] = .object(["sales.orders": .integer(1999), "public.audit": .integer(2000),
                                                            "public.empty_table": .integer(0), "Ünïcode Schema.Tabulka Žluťoučká": .integer(3)])
        try writeSignedManifest(manifest, in: dir.sub("backups"), plan: manifest.plan)
        let failed = try run(["verify", "--latest", "--restore-test"], in: dir)
        #expect(failed.status == 3, "\(failed.stdout)")
        #expect(failed.stdout.contains("sales.orders: 2000 rows restored, 1999 dumped"), "\(failed.stdout)")
        let recorded = try Manifest.decode(readFile(dir.sub("backups/\(manifestName)"))!, key: manifestName)
        #expect(recorded.artifacts[0].restoreTest?.passed == false, "the drill's result is recorded in the manifest")
    }

    @Test func restoreHooksRunAroundTheRestoreAndAFailureStopsIt() throws {
        let database = TestPostgres.uniqueName("bk_hook"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role, rows: 10)
        let target = TestPostgres.uniqueName("bk_hook_target")
        defer { pg.dropDatabase(target) }
        let dir = try workspace("pg-hooks", database: database, plan: """
        hooks:
          before_restore: ["test \\"$BACKUP_PLAN\\" = pg && touch before-ran", "exit ${FAIL_BEFORE:-0}"]   # ${...} is the plan's interpolation
          after_restore: ["echo \\"$BACKUP_RESTORE_STATUS\\" > after-ran"]
          timeout: 30s
        """)
        defer { dir.remove() }
        #expect(try run(["run"], in: dir).status == 0)
        var environment = cleanEnvironment(dir)
        environment["FAIL_BEFORE"] = "3"
        let blocked = try runProcess(backupctlPath, ["restore", "--only", "db", "--to-database", target], environment: environment, directory: dir.path)
        #expect(blocked.status == 14 && blocked.stderr.contains("hook before_restore `exit 3` exited with status 3"), "\(blocked.stderr)")
        #expect(try pg.psql("SELECT count(*) FROM pg_database WHERE datname = '\(target)'") == "0", "a failed before hook stops the restore")
        let restored = try run(["restore", "--only", "db", "--to-database", target], in: dir)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.sub("before-ran")))
        #expect(String(decoding: readFile(dir.sub("after-ran")) ?? [], as: UTF8.self) == "succeeded\n")
    }

    /// A dump restored `--to DIR` is written as `DIR/<subject>.sql`: a manifest whose subject was
    /// changed to `../../escape` must be refused, not written as `DIR/../../escape.sql`.
    @Test func aHostileSubjectNeverBecomesTheDumpFilesPath() throws {
        let database = TestPostgres.uniqueName("bk_hostile"), role = TestPostgres.uniqueName("bk_owner")
        defer { pg.dropDatabase(database); dropRole(role) }
        try createFixture(database: database, role: role, rows: 10)
        let dir = try workspace("pg-hostile", database: database)
        defer { dir.remove() }
        #expect(try run(["run"], in: dir).status == 0)
        let manifest = try HostileManifestTests.manifestName(in: dir)
        try HostileManifestTests.tamper(dir.sub("backups/\(manifest)"), artifactOf: "db", field: "subject", to: "../../escape")

        let target = dir.sub("restore/T")
        let restore = try run(["restore", "--only", "db", "--to", target], in: dir)
        #expect(restore.status == 8, "\(restore.stdout)\(restore.stderr)")
        #expect(restore.stderr.contains(manifest) && restore.stderr.contains("subject '../../escape'"), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("escape.sql")), "nothing is written outside the target")
        #expect(listTree(dir.sub("restore")).filter { $0 != "T" }.isEmpty, "\(listTree(dir.sub("restore")))")
        let list = try run(["list"], in: dir)
        #expect(list.stdout.contains("invalid manifest \(manifest)") && list.stdout.contains("subject"), "\(list.stdout)")
    }

    @Test func connectionSettingsFromAURL() throws {
        let settings = try PostgresConnectionSettings(url: "postgres://app:s3cr%40t@db.internal:6432/schedgen?sslmode=require")
        #expect(settings.host == "db.internal" && settings.port == 6432 && settings.user == "app" && settings.database == "schedgen" && settings.sslmode == "require")
        #expect(try settings.resolvedPassword(environment: [:]) == "s3cr@t")
        #expect(settings.describe(environment: [:]) == "app@db.internal:6432/schedgen")
        let environment = settings.childEnvironment(base: ["PGPASSWORD": "leak", "PATH": "/bin"], passfile: "/tmp/p")
        #expect(environment["PGPASSWORD"] == nil && environment["PGPASSFILE"] == "/tmp/p" && environment["PGHOST"] == "db.internal")
    }
}
