import BackupKit
import Foundation
import Glibc

/// A scratch PostgreSQL 15 cluster made with `scripts/pg-cluster` (run as the postgres OS user, reached
/// through a socket in `dir/run`), with a plan beside it whose `db` source has `pitr:` and whose WAL
/// goes through a spool the postgres user owns. Everything lives under one temporary directory that
/// `remove()` destroys, stopping the cluster and any restored server first.
struct ScratchPostgres {
    let root: TemporaryDirectory
    let port: Int
    let planName: String
    var clusterDir: String { root.sub("cluster") }
    var socket: String { clusterDir + "/run" }
    var planPath: String { root.sub("plan.yml") }
    var spool: String { root.sub("spool") }
    var backups: String { root.sub("backups") }
    static let script = TestServers.repositoryRoot + "/scripts/pg-cluster"
    static let bin = "/usr/lib/postgresql/15/bin"

    /// Makes the directories (traversable by postgres), writes the plan (`sinks`: YAML list items
    /// after the local sink; `extra`: more top-level YAML; `pitr`: the pitr mapping's lines) and inits and
    /// starts the cluster with `wal push` as its archive_command (`archiveCommand` replaces it).
    init(_ label: String, port: Int, pitr: [String] = [], sinks: String = "", extra: String = "", archiveCommand: String? = nil,
         beforeStart: (ScratchPostgres) throws -> Void = { _ in }) throws {
        root = try TemporaryDirectory(label)
        self.port = port
        planName = label.replacingOccurrences(of: "-", with: "")
        chmod(root.path, 0o755)
        for directory in [spool, backups, root.sub("state")] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Self.giveToPostgres(directory)
        }
        let pitrLines = (["spool: \(spool)"] + pitr).map { "      " + $0 }.joined(separator: "\n")
        try writeFile(planPath, """
        name: \(planName)
        state_dir: \(root.sub("state"))
        sources:
          - name: db
            type: postgres
            host: \(socket)
            port: \(port)
            user: postgres
            database: postgres
            pitr:
        \(pitrLines)
        sinks:
          - { name: local, type: local, path: \(backups) }
        \(sinks)
        \(extra)
        """, mode: 0o644)
        try beforeStart(self)
        let command = archiveCommand ?? "\(backupctlPath) wal push --config \(planPath) %p"
        try Self.check(runProcess(Self.script, ["init", clusterDir, "--port", "\(port)", "--archive-command", command, "--archive-timeout", "1"]))
        try Self.check(runProcess(Self.script, ["start", clusterDir]))
    }

    static func giveToPostgres(_ path: String) throws {
        guard let user = getpwnam("postgres") else { throw BackupError(.io, "no postgres user") }
        chown(path, user.pointee.pw_uid, user.pointee.pw_gid)
        chmod(path, 0o755)
    }

    @discardableResult
    static func check(_ result: ProcessResult) throws -> ProcessResult {
        guard result.status == 0 else { throw BackupError(.io, "exit \(result.status): \(result.stderr)\(result.stdout)") }
        return result
    }

    /// Runs SQL on the cluster (or on a restored server's socket directory and port); returns psql's
    /// unaligned, tuples-only output.
    @discardableResult
    func sql(_ statement: String, socket: String? = nil, port: Int? = nil) throws -> String {
        let result = try Self.check(runProcess(Self.bin + "/psql", ["-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-h", socket ?? self.socket,
                                                               "-p", "\(port ?? self.port)", "-d", "postgres", "-c", statement]))
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func backupctl(_ arguments: [String]) throws -> ProcessResult {
        try BackupKitTests.backupctl(arguments + ["--config", planPath], in: root.path)
    }

    /// The WAL objects a local sink directory holds, by WAL file name.
    func archivedNames(in directory: String? = nil) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory ?? backups)) ?? []).filter { $0.hasPrefix("wal_") }.compactMap { key in
            ArchivedWAL(StoredObject(key: key, size: 0), plan: planName, source: "db")?.name.name
        }.sorted()
    }

    /// Switches to a new segment and waits until the spool is empty (everything archived to every sink).
    func switchAndDrain(timeout: Double = 180) throws {
        try sql("SELECT pg_switch_wal()")
        let drained = waitUntil(timeout: timeout) {
            let queue = (try? FileManager.default.contentsOfDirectory(atPath: spool + "/queue")) ?? []
            let archiver = (try? sql("SELECT last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver")) ?? "f"
            return queue.filter { !$0.hasPrefix(".") }.isEmpty && archiver == "t"
        }
        guard drained else {
            let queue = (try? FileManager.default.contentsOfDirectory(atPath: spool + "/queue")) ?? []
            let archiver = (try? sql("SELECT last_archived_wal, failed_count, last_failed_wal, pg_walfile_name(pg_current_wal_lsn()) FROM pg_stat_archiver")) ?? "?"
            let pusher = ((try? String(contentsOfFile: spool + "/pusher.log", encoding: .utf8)) ?? "").split(separator: "\n").suffix(5).joined(separator: " / ")
            throw BackupError(.io, "WAL was not archived within \(timeout) s: queue \(queue.sorted()), archiver \(archiver), pusher log: \(pusher)")
        }
    }

    /// The key of `name`'s object in the local sink (a segment, not its `.backup` label).
    func objectKey(of name: String) -> String? {
        ((try? FileManager.default.contentsOfDirectory(atPath: backups)) ?? []).first { key in
            ArchivedWAL(StoredObject(key: key, size: 0), plan: planName, source: "db")?.name.name == name
        }
    }

    /// Stops a server restored into `dataDirectory` (as postgres) and removes the directory.
    static func stopRestored(_ dataDirectory: String) {
        _ = try? runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/pg_ctl", "-D", dataDirectory, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    func remove() {
        _ = try? runProcess(Self.script, ["destroy", clusterDir])
        root.remove()
    }
}
