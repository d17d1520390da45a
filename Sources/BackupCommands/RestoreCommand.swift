import ArgumentParser
import BackupKit
import BackupSources
import Foundation

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a set's artifacts into a directory or a database, all or nothing, after checking every one against its manifest.",
        discussion: """
        All or nothing: every selected artifact is checked first (size and SHA-256 against the manifest, \
        full decompression, every entry safe), and DIR's file system must have room for the artifacts' \
        content bytes; only then is anything written. Files are written into a temporary directory on \
        DIR's file system (.DIR.restore-XXXXXX beside a new DIR, DIR/.restore-XXXXXX inside an existing \
        one) and moved into place by renames once every artifact is restored, so a failure, a full disk \
        included, leaves DIR as it was and nothing behind.

        Files: with one artifact selected, it is extracted into DIR itself; with several, each goes into \
        DIR/<source>. Entries with '..' or absolute paths, entries that would be written through a symlink, \
        and device nodes are refused before anything is written. A non-empty target is refused unless
        --force is given; with --force, each restored entry replaces the one with the same name in DIR
        (directories are merged, files the set does not hold are kept). Every destination must resolve (symlinks included) to DIR or inside it, and a \
        set whose manifest holds an invalid name (a source, subject or artifact name that breaks the \
        plan's rules) is refused, naming the manifest and the field.

        Part of a set: --path GLOB (repeatable) restores only the entries a pattern selects, and everything \
        below a selected directory, from directory-like artifacts into --to DIR: --path 'tenant-7/2024/**'. \
        Directories above a selected entry are created as needed; select a directory itself (--path \
        tenant-7/2024) to restore its mode and times too. The artifact is still checked whole first; a \
        pattern that selects nothing is an error (exit 9).

        Databases: --only db --to-database NAME creates NAME on the source's server and loads the dump \
        (plain dumps through psql -v ON_ERROR_STOP=1 in one transaction, custom dumps through \
        pg_restore -j). An existing database that holds data is refused unless --force (load into it) or
        --drop-existing (replace it). A globals dump (roles) in the selection is loaded first. With several
        databases in the set, choose one with --subject.

        Buckets: --only minio --to-bucket NAME uploads an s3-bucket source's objects back with their content \
        type and metadata; the bucket is created when missing and must be empty unless --force.

        --sink NAME reads from that sink (default: the local sink if it has the set, else the first that
        does); a downloaded artifact is checked against the manifest's SHA-256 before it is used.

        Signed sets: a set is restored only when its manifest's Ed25519 signature is valid for the plan's \
        key (signing.public_key, else the key file's public half; see `backupctl key`). A manifest whose \
        signature fails (changed after it was signed, or another key's) is refused, naming the manifest, \
        the key expected and what was found; an unsigned set (written before BackupKit signed sets) or \
        one this host has no public key for restores only with --allow-unsigned, which skips that proof.

        Damaged copies: without --sink, when the chosen sink's copy of the set is damaged, the same set is \
        restored from the next sink (local ones first) that holds a good copy, and the damage is logged; \
        the hooks run again for that attempt. With --sink, the error names the sinks with good copies.

        Point in time (a postgres source with pitr:): --to-time '2026-12-02 10:41:00+00', --to-lsn 0/5000028 \
        or --to-latest, with --to-pgdata DIR (empty or new). The newest base backup before the target is \
        restored, with recovery.signal and the recovery settings: an explicit recovery_target_timeline (the \
        timeline current at the target, from the archived history files; --timeline N to choose), and \
        `backupctl wal fetch` as restore_command. The WAL from the base backup to the target is checked to be \
        archived first (a gap is named), and a target outside the recovery window is refused with the window. \
        --start --port N starts the server (as --os-user, default postgres, when run as root) and waits until \
        recovery reached the target and the server was promoted. The restored server gets archive_mode = off \
        unless --archive is given: a copy never adds a timeline to the plan's archive; the restore that \
        replaces production passes --archive so that its new timeline is archived.

        Encrypted sinks: restoring from one needs the identity, --identity FILE (as `age -i`, repeatable) or
        $BACKUP_ENCRYPTION_IDENTITY_FILE. Each artifact's ciphertext must have the SHA-256 the signed
        manifest records (a replaced file is refused, naming it), and is decrypted into the staging \
        directory and checked before anything is written to the target.

        The plan's hooks.before_restore commands run first (a failure stops the restore) and \
        hooks.after_restore commands last. Exit codes: 0 restored; 3 an artifact is damaged (size, \
        SHA-256 or decompression fails; nothing was written; try another --sink or --set); 7 not enough \
        space on the target's file system (the message names the target and the space needed; nothing \
        was written); 8 refused (a hostile archive entry, a non-empty target, an invalid manifest) or \
        failed, a manifest whose signature fails or is missing; 9 no such set, or nothing matches --path; 14 a hook failed; 17 the set is encrypted and no identity was given; 18 no identity \
        given opens it (encrypted to other recipients); 19 wrong passphrase for a passphrase-protected identity \
        file; 20 an encrypted artifact is cut short; 21 an encrypted artifact's header or payload was changed; 16 interrupted \
        (SIGINT or SIGTERM): what was written is removed, a database load rolled back; a second signal stops at once. Database loads are not all or nothing across artifacts: \
        each database is loaded in one transaction (or into a new database that replaces the old one).
        """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var identities: IdentityOptions

    @Flag(name: .long, help: "Restore the newest good set (the default).")
    var latest = false

    @Option(name: .long, help: ArgumentHelp("The set: latest, a set timestamp (20241130_020000), or the newest set at or before a day (2024-11-30, 20241130), a time (2024-11-30T02:00, in the plan's time zone), yesterday, or '2 days ago'. Only sets that hold every source to restore count, so a partial set (run --only) never stands in for a full one.", valueName: "WHEN"))
    var set: String?

    @Option(name: .long, help: ArgumentHelp("Restore only this source (repeatable).", valueName: "SOURCE"))
    var only: [String] = []

    @Option(name: .long, help: ArgumentHelp("Restore only artifacts with this subject, such as one database of several (repeatable).", valueName: "SUBJECT"))
    var subject: [String] = []

    @Option(name: .long, help: ArgumentHelp("The directory to restore into.", valueName: "DIR"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("Restore only the files and directories this pattern selects, and everything below a selected directory (repeatable): 'tenant-7/2024/**', 'tenant-7', '**/*.pdf'; the syntax of a source's exclude, paths relative to the source's root. Directory-like artifacts restored with --to DIR only; no match is an error (exit 9).", valueName: "GLOB"))
    var path: [String] = []

    @Option(name: .customLong("to-database"), help: ArgumentHelp("The database to restore a PostgreSQL dump into, on the source's server.", valueName: "NAME"))
    var toDatabase: String?

    @Option(name: .customLong("to-bucket"), help: ArgumentHelp("The bucket to upload an s3-bucket source's objects back into, with their metadata (created when missing).", valueName: "NAME"))
    var toBucket: String?

    @Flag(name: .long, help: "Restore into a target that already holds data: entries with the same names are replaced once everything is restored (nothing changes if the restore fails); a dump is loaded into the existing database.")
    var force = false

    @Flag(name: .customLong("allow-unsigned"), help: "Restore a set whose manifest is unsigned (written before BackupKit signed sets) or signed with a key this host has no public key for. Skipped: the proof that the plan's backup host wrote the manifest; the artifacts are still checked against its sizes and SHA-256.")
    var allowUnsigned = false

    @Flag(name: .customLong("drop-existing"), help: "Drop and recreate a target database that already holds data.")
    var dropExisting = false

    @Flag(name: .long, help: "The whole recovery in one command: every source of the set back to its own place (a directory source to its path, a database to its database on the source's server, a bucket to its bucket, config files to their paths), or to --target SOURCE=TARGET; before_restore hooks once, each target all or nothing, after_restore hooks once, then the checks (row counts, file counts) and one summary.")
    var all = false

    @Option(name: .long, help: ArgumentHelp("With --all: restore SOURCE into TARGET (a directory, database or bucket, as the source's own place is) instead of its own place; repeatable.", valueName: "SOURCE=TARGET"))
    var target: [String] = []

    @Flag(name: .long, help: "Make the directory target exactly the set: restore into it even when it holds data, and remove what it holds that the set does not (once everything is restored; nothing is removed if the restore fails). Preview it with --dry-run first.")
    var mirror = false

    @Flag(name: .customLong("dry-run"), help: "Show what would be restored where (the set, each artifact with its size, each target and whether it is empty, the hooks that would run) and write nothing: no hook runs and no artifact is read.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Parallel jobs for pg_restore (custom-format dumps). Default: one per core.", valueName: "N"))
    var jobs: Int?

    @Option(name: .long, help: ArgumentHelp("Read from this sink; default: the first sink (local first) that has the set.", valueName: "NAME"))
    var sink: String?

    @Option(name: .customLong("to-time"), help: ArgumentHelp("Point-in-time recovery of a pitr source to this moment: '2026-12-02 10:41:00+00' (ISO 8601; no zone means UTC).", valueName: "TIME"))
    var toTime: String?

    @Option(name: .customLong("to-lsn"), help: ArgumentHelp("Point-in-time recovery up to this WAL position (0/5000028).", valueName: "LSN"))
    var toLSN: String?

    @Flag(name: .customLong("to-latest"), help: "Point-in-time recovery to the end of the archived WAL.")
    var toLatest = false

    @Option(name: .customLong("to-pgdata"), help: ArgumentHelp("The empty or new data directory a point-in-time recovery restores into.", valueName: "DIR"))
    var toPGData: String?

    @Option(name: .long, help: ArgumentHelp("The timeline to recover along; default: the one current at the target.", valueName: "N"))
    var timeline: UInt32?

    @Flag(name: .long, help: "With --to-pgdata: start the restored server and wait until it reached the target.")
    var start = false

    @Option(name: .long, help: ArgumentHelp("With --start: the port the restored server listens on (it also listens on a socket in DIR).", valueName: "N"))
    var port: Int?

    @Option(name: .customLong("os-user"), help: ArgumentHelp("With --to-pgdata as root: the OS user that owns the data directory and runs the server.", valueName: "NAME"))
    var osUser = "postgres"

    @Flag(name: .customLong("archive"), help: "With --to-pgdata: keep the backup's archive_mode, so the restored server, once promoted, archives its new timeline into the plan (the restore that replaces production). Default: archive_mode = off, so a copy never adds a timeline to the archive.")
    var archive = false

    @Flag(name: .customLong("no-archive"), help: "With --to-pgdata: archive_mode = off (the default; kept for scripts).")
    var noArchive = false

    var pointInTimeTarget: RecoveryTarget? {
        get throws {
            if toLatest { return .latest }
            if let toLSN {
                guard let lsn = LSN(toLSN) else { throw ValidationError("--to-lsn \(toLSN): write a WAL position such as 0/5000028") }
                return .lsn(lsn)
            }
            if let toTime {
                guard let date = parsePointInTime(toTime) else {
                    throw ValidationError("--to-time \(toTime): write a time such as '2026-12-02 10:41:00+00' or 2026-12-02T10:41:00Z")
                }
                return .time(date)
            }
            return nil
        }
    }

    func validate() throws {
        let pointInTime = [toTime != nil, toLSN != nil, toLatest].filter { $0 }.count
        if pointInTime > 1 { throw ValidationError("give one of --to-time, --to-lsn and --to-latest") }
        if pointInTime == 1 || toPGData != nil {
            guard pointInTime == 1, toPGData != nil else { throw ValidationError("a point-in-time restore needs a target (--to-time, --to-lsn or --to-latest) and --to-pgdata DIR") }
            if all || to != nil || toDatabase != nil || toBucket != nil || set != nil {
                throw ValidationError("a point-in-time restore chooses its base backup itself and restores into --to-pgdata: leave out --all, --to, --to-database, --to-bucket and --set")
            }
            if start != (port != nil) { throw ValidationError("--start and --port go together: the restored server needs a port of its own") }
            if archive && noArchive { throw ValidationError("give either --archive or --no-archive, not both") }
            _ = try pointInTimeTarget
            return
        }
        if start || port != nil || timeline != nil || noArchive || archive { throw ValidationError("--start, --port, --timeline, --archive and --no-archive go with --to-pgdata") }
        if latest && set != nil { throw ValidationError("give either --latest or --set, not both") }
        let targets = [to, toDatabase, toBucket].compactMap({ $0 }).count
        if all {
            if targets > 0 { throw ValidationError("--all restores each source to its own place or its --target SOURCE=TARGET; leave out --to, --to-database and --to-bucket") }
            for item in target where !item.contains("=") || item.hasPrefix("=") || item.hasSuffix("=") {
                throw ValidationError("--target \(item): write SOURCE=TARGET, such as --target minio=schedgen-pdfs-restored")
            }
        } else if !target.isEmpty {
            throw ValidationError("--target goes with --all; without it, give --to DIR, --to-database NAME or --to-bucket NAME")
        } else if targets != 1 {
            throw ValidationError("give where to restore: --to DIR, --to-database NAME or --to-bucket NAME, or --all for every source to its own place")
        }
        if force && dropExisting { throw ValidationError("give either --force or --drop-existing, not both") }
        // Not with --all: a files source's own place is /, which must never be made "exactly the set".
        if mirror && to == nil { throw ValidationError("--mirror is for one directory target, --to DIR (not --all, --to-database or --to-bucket)") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if !path.isEmpty && to == nil { throw ValidationError("--path selects files to restore into a directory: give --to DIR (not --all, --to-database or --to-bucket)") }
        if !path.isEmpty && mirror { throw ValidationError("--path restores part of a set and --mirror makes the target exactly the whole set: give one or the other") }
        for pattern in path where pattern.trimmingCharacters(in: CharacterSet(charactersIn: "/")).isEmpty {
            throw ValidationError("--path '\(pattern)' selects nothing; give a pattern such as 'tenant-7/2024/**'")
        }
    }

    func run() async throws {
        if let toPGData { return try await restorePointInTime(into: toPGData) }
        do {
            var plan = try global.loadPlan()
            plan.identities = try identities.load()
            let destination: RestoreDestination = if let toDatabase {
                .database(toDatabase)
            } else if let toBucket {
                .bucket(toBucket)
            } else {
                .directory(resolvePath(to ?? ".", against: FileManager.default.currentDirectoryPath))
            }
            var options = Restorer.Options(timestamp: nil, sink: sink, onlySources: only, subjects: subject,
                                           destination: destination, force: force, dropExisting: dropExisting, jobs: jobs,
                                           allowUnsigned: allowUnsigned)
            if let set { options.selector = try SetSelector(parsing: set, timeZone: plan.resolvedSchedule.timeZone) }
            options.mirror = mirror
            options.paths = path.map(GlobPattern.init)
            if all {
                options.toSourceTargets = true
                for item in target {
                    let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                    guard plan.source(named: parts[0]) != nil else {
                        throw BackupError(.usage, "--target \(item): the plan has no source '\(parts[0])'; its sources are \(plan.sources.map(\.source.name).joined(separator: ", "))")
                    }
                    options.targetOverrides[parts[0]] = parts[1]
                }
            }
            let restorer = Restorer(plan: plan, logger: global.makeLogger(), onWarning: { warning in
                Terminal.error("backupctl: warning: \(warning)")
            }, onProgress: Terminal.phase)
            if dryRun {
                printPreview(try await restorer.preview(options))
                return
            }
            Terminal.progress("restoring…")
            let (result, signal) = await InterruptionHandler.run(announce: { name in
                "backupctl: \(name): stopping the restore and removing what it wrote so far; send it again to stop at once"
            }) { [options] in
                try await restorer.restore(options)
            }
            Terminal.clearProgress()
            if let signal, case .failure = result {
                Terminal.error("backupctl: interrupted by \(signal): \(all ? Self.stoppedAll : Self.stopped(destination)) (exit \(ExitCodes.interrupted))")
                throw ExitCode(ExitCodes.interrupted)
            }
            let reports = try result.get()
            if global.json {
                Terminal.json(["artifacts": reports], schema: .restore)
            } else {
                for report in reports {
                    let check = report.check.map { "; check \(report.checkPassed == true ? "passed" : "FAILED"): \($0)" } ?? ""
                    Terminal.out("restored \(report.artifact) → \(report.destination): \(report.entries) entries, \(formatBytes(report.bytes))\(check)")
                }
                if all {
                    let failed = reports.filter { $0.checkPassed == false }
                    Terminal.out(failed.isEmpty
                        ? "restored \(reports.count) artifact(s) to their places; every check passed"
                        : "restored \(reports.count) artifact(s); \(failed.count) check(s) FAILED: \(failed.map(\.artifact).joined(separator: ", "))")
                }
            }
            if reports.contains(where: { $0.checkPassed == false }) { throw ExitCode(ExitCodes.verificationFailed) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }

    /// What an interrupted restore left: a directory target as it was (the files went into a temporary
    /// directory, which is removed), a database load rolled back (psql is stopped before it commits).
    static func stopped(_ destination: RestoreDestination) -> String {
        switch destination.kind {
        case .directory: "the restore stopped cleanly: \(destination.value) is as it was, and the files restored so far were removed"
        case .database: "the restore stopped: the load into database '\(destination.value)' was rolled back"
        default: "the restore stopped; what was already uploaded into bucket '\(destination.value)' stays there"
        }
    }

    /// What an interrupted `restore --all` left: each target is all or nothing on its own.
    static let stoppedAll = "the restore stopped: the targets restored before the signal stay restored; the one in progress is as it was (a directory's files restored so far were removed, a database load rolled back)"

    private func printPreview(_ preview: RestorePreview) {
        if global.json {
            Terminal.json(preview, schema: .restoreDryRun)
            return
        }
        Terminal.out("dry run: nothing is written and no hook runs")
        Terminal.out("would restore set \(preview.timestamp) from sink '\(preview.sink)':")
        for item in preview.artifacts {
            Terminal.out("  \(item.name)  \(formatBytes(item.size)) (\(formatBytes(item.contentBytes)) of content)")
            Terminal.out("    → \(item.targetKind) \(item.target): \(item.targetState)")
        }
        Terminal.out("  before_restore hooks: \(preview.beforeRestore.isEmpty ? "none" : preview.beforeRestore.joined(separator: "; "))")
        Terminal.out("  after_restore hooks: \(preview.afterRestore.isEmpty ? "none" : preview.afterRestore.joined(separator: "; "))")
    }
}

extension RestoreCommand {
    func restorePointInTime(into directory: String) async throws {
        do {
            guard let planFile = global.planFile else {
                throw BackupError(.usage, "a point-in-time restore needs a plan file (restore_command runs `backupctl wal fetch --config FILE`): give --config FILE")
            }
            let archive = try WALArchive(plan: try global.loadPlan(), source: only.first)
            let executable = currentExecutable()
            var options = PointInTimeRestore.Options(target: try pointInTimeTarget!, dataDirectory: resolvePath(directory, against: FileManager.default.currentDirectoryPath),
                                                     planFile: resolvePath(planFile, against: FileManager.default.currentDirectoryPath), executable: executable)
            options.timeline = timeline
            options.identityFiles = identities.files.map { resolvePath($0, against: FileManager.default.currentDirectoryPath) }
            options.start = start
            options.port = port
            options.osUser = osUser
            options.archiving = self.archive
            let restore = PointInTimeRestore(archive: archive, identities: try identities.load(), logger: global.makeLogger())
            let json = global.json
            let report = try await restore.run(options) { line in if !json { Terminal.error("backupctl: \(line)") } }
            if global.json {
                Terminal.json(report, schema: .restorePITR)
            } else {
                Terminal.out("restored \(report.baseBackup) into \(report.dataDirectory) in \(String(format: "%.1f", report.restoreSeconds)) s: timeline \(report.timeline), WAL \(report.firstSegment) … \(report.lastSegment) (\(report.segments) segments), target \(report.target)")
                if report.started {
                    Terminal.out("recovered in \(String(format: "%.1f", report.recoverySeconds ?? 0)) s to \(report.recoveredTo ?? "the target"); the server runs on port \(report.port ?? 0) (socket in \(report.dataDirectory))")
                } else {
                    Terminal.out("start it with: pg_ctl -D \(report.dataDirectory) start  (as the server's OS user); it recovers to the target and promotes")
                }
            }
        } catch { throw fail(error) }
    }
}

/// Parses `2026-12-02 10:41:00+00`, `2026-12-02T10:41:00Z`, `2026-12-02 10:41:00.123456+01:00`, to the
/// microsecond; no zone means UTC.
func parsePointInTime(_ text: String) -> Date? {
    var value = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "T")
    var fraction = 0.0
    if let range = value.range(of: #"\.\d+"#, options: .regularExpression) {
        fraction = Double("0" + value[range]) ?? 0
        value.removeSubrange(range)
    }
    if let range = value.range(of: #"[+-]\d\d$"#, options: .regularExpression) { value.replaceSubrange(range, with: value[range] + ":00") }
    let hasZone = value.hasSuffix("Z") || value.range(of: #"[+-]\d\d:\d\d$"#, options: .regularExpression) != nil
    if !hasZone { value += "Z" }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: value).map { $0.addingTimeInterval(fraction) }
}
