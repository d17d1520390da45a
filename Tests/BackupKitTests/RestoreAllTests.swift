import BackupKit
import Foundation
import Testing

/// `restore --all`: the seed's whole recovery in one command, against a real PostgreSQL server.
@Suite(.serialized) struct RestoreAllTests {
    let pg: TestPostgres

    init() throws { pg = try TestPostgres.load() }

    @Test func everySourceGoesBackToItsPlaceWithHooksOnceAndChecks() throws {
        let database = TestPostgres.uniqueName("bk_all")
        try pg.psql("CREATE DATABASE \(database)")
        defer { pg.dropDatabase(database) }
        try pg.psql("CREATE TABLE jobs (id serial PRIMARY KEY, title text); INSERT INTO jobs (title) SELECT 'job ' || i FROM generate_series(1, 500) i;",
                    database: database)
        let dir = try TemporaryDirectory("restore-all")
        defer { dir.remove() }
        try writeFile(dir.sub("pgpass"), pg.password + "\n", mode: 0o600)
        for index in 0..<12 { try writeFile(dir.sub("pdfs/tenant-\(index % 3)/doc-\(index).pdf"), pseudoRandomBytes(2000, seed: UInt64(index))) }
        try writeFile(dir.sub("etc/app.env"), "MODE=production\n")
        try writeFile(dir.sub("backup.yml"), """
        name: all
        sources:
          - { name: db, type: postgres, host: \(pg.host), port: \(pg.port), user: \(pg.user), database: \(database), password_file: ./pgpass }
          - { name: minio, type: directory, path: ./pdfs, subject: pdfs }
          - { name: config, type: files, paths: [./etc/app.env] }
        sinks:
          - { name: local, type: local, path: ./backups }
        hooks:
          before_restore: ["echo before >> hooks.log"]
          after_restore: ["echo \\"after $BACKUP_RESTORE_STATUS\\" >> hooks.log"]
        """)
        let environment = ["HOME": dir.path]
        let run = try backupctl(["run"], in: dir.path, environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        let filesBefore = listTree(dir.sub("pdfs"))

        // The disaster: the database and the uploaded files are gone.
        pg.dropDatabase(database)
        try FileManager.default.removeItem(atPath: dir.sub("pdfs"))
        let preview = try backupctl(["restore", "--all", "--dry-run"], in: dir.path, environment: environment)
        #expect(preview.status == 0 && preview.stdout.contains("→ database \(database)") && preview.stdout.contains("→ directory \(dir.sub("pdfs")): missing"),
                "\(preview.stdout)\(preview.stderr)")
        // The config file still exists, so its place (/) is not empty: it goes to a target of its own here.
        let restore = try backupctl(["restore", "--all", "--target", "config=restored-config"], in: dir.path, environment: environment)
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        #expect(restore.stdout.contains("row counts match the manifest: 1 tables, 500 rows"), "\(restore.stdout)")
        #expect(restore.stdout.contains("every check passed"), "\(restore.stdout)")
        #expect(try pg.psql("SELECT count(*) FROM jobs", database: database).trimmingCharacters(in: .whitespacesAndNewlines) == "500")
        #expect(listTree(dir.sub("pdfs")) == filesBefore)
        #expect(readFile(dir.sub("pdfs/tenant-1/doc-4.pdf")) == pseudoRandomBytes(2000, seed: 4))
        #expect(readFile(dir.sub("restored-config") + dir.path + "/etc/app.env") == Array("MODE=production\n".utf8))
        #expect(String(decoding: readFile(dir.sub("hooks.log")) ?? [], as: UTF8.self) == "before\nafter succeeded\n", "the hooks ran once each")

        // Targets must be named as SOURCE=TARGET, and only with --all.
        #expect(try backupctl(["restore", "--all", "--target", "nosuch=x"], in: dir.path, environment: environment).status == 2)
        #expect(try backupctl(["restore", "--all", "--to", "x"], in: dir.path, environment: environment).status == 2)
        #expect(try backupctl(["restore", "--target", "db=x", "--to", "x"], in: dir.path, environment: environment).status == 2)
    }
}

/// The checks `restore` reports, on the cases a healthy restore never shows.
@Suite struct RestoreCheckTests {
    @Test func rowCountsMustMatchTableForTable() {
        var report = RestoreReport(artifact: "db.sql.gz", destination: "database 'x'", entries: 2, bytes: 10)
        report.check(rowCounts: ["public.jobs": 500, "public.users": 3], recorded: ["public.jobs": 500, "public.users": 3])
        #expect(report.checkPassed == true && report.check == "row counts match the manifest: 2 tables, 503 rows")
        report.check(rowCounts: ["public.jobs": 499, "public.users": 3], recorded: ["public.jobs": 500, "public.users": 3])
        #expect(report.checkPassed == false && report.check == "row counts differ from the manifest in public.jobs", "\(report.check ?? "")")
        report.check(rowCounts: ["public.jobs": 500], recorded: ["public.jobs": 500, "public.users": 3])
        #expect(report.checkPassed == false && report.check?.contains("public.users") == true, "a missing table: \(report.check ?? "")")
        report.check(rowCounts: ["public.jobs": 500, "public.extra": 0], recorded: ["public.jobs": 500])
        #expect(report.checkPassed == false && report.check?.contains("public.extra") == true, "an extra table: \(report.check ?? "")")
    }

    @Test func entryCountsMustMatch() {
        var report = RestoreReport(artifact: "files.tar.gz", destination: "/srv/data", entries: 12, bytes: 10)
        report.check(entriesRecorded: 12)
        #expect(report.checkPassed == true && report.check == "12 entries, as the manifest records")
        report.check(entriesRecorded: 13)
        #expect(report.checkPassed == false && report.check == "12 entries restored; the manifest records 13")
    }
}
