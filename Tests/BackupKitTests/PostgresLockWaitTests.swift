import BackupKit
@testable import BackupSources
import Foundation
import Testing

/// A table lock must not make a dump wait forever (issue 10, finding 9): past `lock_wait_timeout` the
/// run fails, naming the table and the session in the way. Each backup runs with a deadline, so the
/// code before the fix fails these tests instead of hanging them.
extension PostgresTests {
    /// A database with one table, `locked_orders`, and a workspace whose plan waits 1s for locks.
    func withLockFixture(_ label: String, source: String = "", _ body: (_ database: String, _ dir: TemporaryDirectory) throws -> Void) throws {
        let database = TestPostgres.uniqueName("bk_\(label)")
        defer { pg.dropDatabase(database) }
        try pg.psql("CREATE DATABASE \(database)")
        try pg.psql("CREATE TABLE locked_orders AS SELECT i AS id, 'order ' || i AS customer FROM generate_series(1, 50) AS i", database: database)
        let dir = try workspace("pg-\(label)", database: database, source: "lock_wait_timeout: 1s\n" + source)
        defer { dir.remove() }
        try body(database, dir)
    }

    /// The pid of the session named `application` once its ACCESS EXCLUSIVE lock on `locked_orders` is
    /// granted; nil if that does not happen within 30 seconds.
    func sessionLocking(_ database: String, application: String) throws -> String? {
        var pid = ""
        let found = try waitUntil(timeout: 30) {
            pid = try pg.psql("""
                SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE a.application_name = '\(application)' AND l.mode = 'AccessExclusiveLock' AND l.granted
                  AND l.relation = 'public.locked_orders'::regclass
                """, database: database)
            return !pid.isEmpty
        }
        return found ? pid : nil
    }

    @Test func aTableLockedBeforeTheRunFailsItNamingTheTableAndTheSession() throws {
        try withLockFixture("lockheld") { database, dir in
            // Another session holds ACCESS EXCLUSIVE on the table, idle in its transaction, until its stdin closes.
            let application = TestPostgres.uniqueName("bk_lock_holder")
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: pg.bin + "/psql")
            holder.arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database]
            holder.environment = pg.environment.merging(["PGAPPNAME": application]) { _, new in new }
            let input = Pipe()
            holder.standardInput = input
            holder.standardOutput = FileHandle.nullDevice
            holder.standardError = FileHandle.nullDevice
            try holder.run()
            defer {
                try? input.fileHandleForWriting.close()
                holder.waitUntilExit()
            }
            input.fileHandleForWriting.write(Data("BEGIN;\nLOCK TABLE locked_orders IN ACCESS EXCLUSIVE MODE;\n".utf8))
            let pid = try #require(try sessionLocking(database, application: application), "the holder's lock was granted")

            let started = Date()
            let backup = try runProcess(backupctlPath, ["run"], environment: cleanEnvironment(dir), directory: dir.path, killAfter: 90)
            let elapsed = Date().timeIntervalSince(started)
            #expect(backup.status == 1, "the run fails instead of waiting for the lock (status \(backup.status) after \(Int(elapsed))s): \(backup.stderr)")
            #expect(backup.stderr.contains("waited longer than lock_wait_timeout (1s) for a lock on table public.locked_orders"), "\(backup.stderr)")
            #expect(backup.stderr.contains("session PID \(pid) (user '\(pg.user)', application '\(application)', state 'idle in transaction', query 'LOCK TABLE locked_orders IN ACCESS EXCLUSIVE MODE;') holds an ACCESS EXCLUSIVE lock on public.locked_orders"), "\(backup.stderr)")
            #expect(backup.stderr.contains("Wait for or end session PID \(pid) (SELECT pg_terminate_backend(\(pid))), or raise lock_wait_timeout."), "\(backup.stderr)")
            #expect(!backup.stderr.contains(pg.password), "no password in the message")
            #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty, "nothing is stored")
            #expect(try pg.psql("SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid)") == "1", "the holding session is left alone")
        }
    }

    /// A migration's ALTER TABLE that arrives after the snapshot's table locks queues behind the backup's snapshot
    /// transaction, and pg_dump's lock queues behind it: without pg_dump's `--lock-wait-timeout` neither
    /// ever goes on. A `pg_dump` wrapper starts that ALTER TABLE, waits until it is queued and records
    /// its pid.
    @Test func aMigrationQueuedBehindTheSnapshotFailsPgDumpInsteadOfDeadlockingIt() throws {
        try withLockFixture("lockqueue", source: "bin_dir: ./bin") { database, dir in
            let application = TestPostgres.uniqueName("bk_migration")
            try linkTools(["pg_dumpall", "psql", "pg_restore"], into: dir.sub("bin"))
            try writeFile(dir.sub("bin/pg_dump"), """
            #!/bin/sh
            [ "$1" = --version ] && exec "\(pg.bin)/pg_dump" "$@"
            PGAPPNAME=\(application) "\(pg.bin)/psql" -X -q -c "ALTER TABLE locked_orders ADD COLUMN note text" </dev/null >/dev/null 2>&1 &
            tries=0
            until pid=$("\(pg.bin)/psql" -X -A -t -c "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.application_name = '\(application)' AND NOT l.granted") && [ -n "$pid" ]; do
              tries=$((tries + 1)); [ $tries -gt 600 ] && { echo "the ALTER TABLE never queued" >&2; exit 70; }
              sleep 0.05
            done
            echo "$pid" > "\(dir.sub("migration.pid"))"
            exec "\(pg.bin)/pg_dump" "$@"
            """, mode: 0o755)

            let started = Date()
            let backup = try runProcess(backupctlPath, ["run"], environment: cleanEnvironment(dir), directory: dir.path, killAfter: 90)
            let elapsed = Date().timeIntervalSince(started)
            #expect(backup.status == 1, "pg_dump gives up instead of waiting forever (status \(backup.status) after \(Int(elapsed))s): \(backup.stderr)")
            let pid = try #require(readFile(dir.sub("migration.pid")).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines), "the wrapper saw the ALTER TABLE queue: \(backup.stderr)")
            #expect(backup.stderr.contains("waited longer than lock_wait_timeout (1s) for a lock on table public.locked_orders"), "\(backup.stderr)")
            #expect(backup.stderr.contains("session PID \(pid) (user '\(pg.user)', application '\(application)', state 'active', query 'ALTER TABLE locked_orders ADD COLUMN note text') waits for an ACCESS EXCLUSIVE lock on public.locked_orders behind this backup's own snapshot transaction"), "\(backup.stderr)")
            #expect(backup.stderr.contains("End session PID \(pid) (SELECT pg_terminate_backend(\(pid))) or run its work outside the backup's window; raising lock_wait_timeout would not help"), "\(backup.stderr)")
            #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty, "nothing is stored")
            // With the backup gone, the migration goes on.
            #expect(try waitUntil(timeout: 30) { try pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(application)'") == "0" })
            #expect(try pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'locked_orders' AND column_name = 'note'", database: database) == "1")
        }
    }
}
