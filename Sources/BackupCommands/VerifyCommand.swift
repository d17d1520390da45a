import ArgumentParser
import BackupKit
import BackupSources
import Foundation

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify stored sets: every artifact present, read back completely, and matching its manifest's size and SHA-256.",
        discussion: """
        With --restore-test, each database dump is also restored into a scratch database (on the server \
        the source's restore_test section names, else its own), every table's row count is compared with \
        the manifest, and the scratch database is dropped; the result is recorded in the set's manifest. \
        Every manifest's Ed25519 signature is checked with the plan's key (see `backupctl key`): a set whose \
        signature fails, or that is unsigned, fails (unsigned passes with --allow-unsigned), and its drill \
        is not run on a manifest whose signature fails. Drill results are recorded only in a manifest this \
        host's signing key signed. \
        Encrypted sinks: with the identity (--identity FILE, or $BACKUP_ENCRYPTION_IDENTITY_FILE), each \
        artifact's ciphertext is checked against the signed manifest's SHA-256, then decrypted and checked \
        in full. Without it, only the ciphertexts are read and checked (size and SHA-256), and the output \
        says that the content check needs the identity.
        With --pitr-drill (a postgres source with pitr:), the PITR drill runs instead: the newest base \
        backup plus archived WAL is recovered to a random moment inside the recovery window, in a scratch \
        data directory on a free port; amcheck checks every B-tree index where the extension is installed, \
        every table's rows are counted, the recovery time (RTO) and the target are recorded on the base \
        backup in its manifest, and the scratch cluster is removed. A failure alerts verification_failure.
        Exit codes: 0 every checked set passed, 3 an artifact, a drill or a signature failed (its name is printed), 9 no such set.
        """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var identities: IdentityOptions

    @Flag(name: .long, help: "Verify the newest set (the default).")
    var latest = false

    @Option(name: .long, help: ArgumentHelp("Verify the set with this timestamp (YYYYMMDD_HHMMSS).", valueName: "TIMESTAMP"))
    var set: String?

    @Flag(name: .long, help: "Verify every set.")
    var all = false

    @Option(name: .long, help: ArgumentHelp("Only this sink; default: every sink.", valueName: "NAME"))
    var sink: String?

    @Flag(name: .customLong("restore-test"), help: "Also restore each database dump into a scratch database and compare every table's row count with the manifest.")
    var restoreTest = false

    @Flag(name: .customLong("read-data"), help: "Also hash every blob in the packs of incremental sets and compare it with its name (the content's SHA-256).")
    var readData = false

    @Flag(name: .customLong("allow-unsigned"), help: "Let a set whose manifest is unsigned, or signed with a key this host has no public key for, pass (its artifacts are still checked).")
    var allowUnsigned = false

    @Flag(name: .customLong("pitr-drill"), help: "Run the PITR drill (see above) instead of checking sets.")
    var pitrDrill = false

    @Option(name: .long, help: ArgumentHelp("With --pitr-drill: the pitr source; default: the plan's only one.", valueName: "NAME"))
    var source: String?

    func validate() throws {
        if [latest, set != nil, all].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --latest, --set and --all")
        }
    }

    struct Output: Encodable {
        var sets: [StoredSetVerifier.Result]
        /// The sinks that could not be verified at all (no such set, unreachable), with the error.
        var errors: [SinkError]
    }

    struct SinkError: Encodable {
        var sink: String
        var code: String
        var exitCode: Int32
        var message: String

        enum CodingKeys: String, CodingKey {
            case sink, code, message
            case exitCode = "exit_code"
        }
    }

    /// A sink that could not be verified, and why.
    struct SinkFailure: Sendable {
        var sink: String
        var error: BackupError
    }

    func run() async throws {
        if pitrDrill { return try await runPITRDrill() }
        var plan: BackupPlan
        let selected: [any Sink]
        let timestamp: SetTimestamp?
        do {
            plan = try global.loadPlan()
            plan.identities = try identities.load()
            timestamp = try set.map(parseTimestamp)
            selected = try plan.selectedSinks(sink)
        } catch { throw fail(error) }
        let verifier = StoredSetVerifier(plan: plan, logger: global.makeLogger(), onProgress: Terminal.phase)
        let (all, restoreTest, allowUnsigned, readData) = (all, restoreTest, allowUnsigned, readData)
        let (outcome, signal) = await InterruptionHandler.run(announce: { name in
            "backupctl: \(name): stopping the verification and removing its downloads; send it again to stop at once"
        }) { [plan] in
            var results: [StoredSetVerifier.Result] = []
            var errors: [SinkFailure] = []
            for sink in selected {
                do {
                    var timestamps: [SetTimestamp?] = [timestamp]
                    if all {
                        let catalog = try await plan.catalog(in: sink)
                        timestamps = catalog.sets.map(\.timestamp)
                    }
                    for timestamp in timestamps {
                        try Task.checkCancellation()
                        Terminal.progress("verifying \(timestamp.map { "set \($0)" } ?? "the newest set") in '\(sink.name)'")
                        results.append(try await verifier.verify(sink: sink, timestamp: timestamp, restoreTest: restoreTest, allowUnsigned: allowUnsigned, readData: readData))
                    }
                } catch {
                    if Task.isCancelled { throw CancellationError() }
                    errors.append(SinkFailure(sink: sink.name, error: (error as? BackupError) ?? BackupError(.sinkFailed, "sink '\(sink.name)': \(error)")))
                }
            }
            // A verification cut short by the signal reads as a failed one: it is neither.
            try Task.checkCancellation()
            return (results, errors)
        }
        Terminal.clearProgress()
        if let signal, case .failure = outcome {
            Terminal.error("backupctl: interrupted by \(signal): the verification stopped; its downloads were removed and no set was changed (exit \(ExitCodes.interrupted))")
            throw ExitCode(ExitCodes.interrupted)
        }
        let (results, errors): ([StoredSetVerifier.Result], [SinkFailure])
        do { (results, errors) = try outcome.get() } catch { throw fail(error) }
        if global.json {
            Terminal.json(Output(sets: results, errors: errors.map {
                SinkError(sink: $0.sink, code: $0.error.code.rawValue, exitCode: ExitCodes.code(for: $0.error.code), message: $0.error.message)
            }), schema: .verify)
        } else {
            for result in results {
                Terminal.out("sink '\(result.sink)' set \(result.set): \(result.passed ? "OK" : "FAILED")\(result.problem.map { " (\($0))" } ?? "")")
                if let notice = result.notice { Terminal.out("  note: \(notice)") }
                for artifact in result.artifacts {
                    var detail = artifact.passed ? "ok" + (artifact.entries.map { ", \($0) entries" } ?? "") : "FAILED: \(artifact.message ?? "")"
                    if artifact.passed, artifact.restoreTest == nil, let message = artifact.message { detail += " (\(message))" }
                    if artifact.passed, let drill = artifact.restoreTest { detail += "; restore drill passed: \(drill.summary)" }
                    Terminal.out("  \(artifact.name)  \(formatBytes(artifact.size))  \(detail)")
                }
            }
            // A pack is shared: say once, per sink, which of the checked sets each failing pack breaks.
            for (key, sets) in Self.brokenByPack(results).sorted(by: { $0.key.sink + $0.key.pack < $1.key.sink + $1.key.pack }) {
                Terminal.out("pack \(key.pack) in sink '\(key.sink)' is damaged or missing: it breaks set\(sets.count == 1 ? "" : "s") \(sets.map(\.description).joined(separator: ", ")); the next run stores what it held again")
            }
        }
        for error in errors { Terminal.error("backupctl: \(error.error.message)") }
        if results.contains(where: { !$0.passed }) { throw ExitCode(ExitCodes.verificationFailed) }
        if let error = errors.first { throw ExitCode(ExitCodes.code(for: error.error.code)) }
    }

    struct PackInSink: Hashable {
        var sink: String
        var pack: String
    }

    /// Every pack that failed, with the checked sets that name it.
    static func brokenByPack(_ results: [StoredSetVerifier.Result]) -> [PackInSink: [SetTimestamp]] {
        var broken: [PackInSink: [SetTimestamp]] = [:]
        for result in results {
            for artifact in result.artifacts where !artifact.passed && ArtifactName.isPack(artifact.name) {
                broken[PackInSink(sink: result.sink, pack: artifact.name), default: []].append(result.set)
            }
        }
        return broken.mapValues { $0.sorted() }
    }
}

extension VerifyCommand {
    func runPITRDrill() async throws {
        let result: PITRDrill.Result
        let archive: WALArchive
        do {
            guard let planFile = global.planFile else {
                throw BackupError(.usage, "the PITR drill needs a plan file (restore_command runs `backupctl wal fetch --config FILE`): give --config FILE")
            }
            archive = try WALArchive(plan: try global.loadPlan(), source: source)
            let drill = PITRDrill(archive: archive, identities: try identities.load(),
                                  identityFiles: identities.files.map { resolvePath($0, against: FileManager.default.currentDirectoryPath) },
                                  planFile: resolvePath(planFile, against: FileManager.default.currentDirectoryPath),
                                  executable: currentExecutable(), logger: global.makeLogger())
            if !global.json { Terminal.progress("PITR drill: restoring and recovering…") }
            var generator = SystemRandomNumberGenerator()
            result = await drill.run(using: &generator)
            Terminal.clearProgress()
        } catch { throw fail(error) }
        if !result.passed { await sendAlert(archive, .verificationFailure, result.summary) }
        if global.json {
            Terminal.json(result, schema: .pitrDrill)
        } else {
            Terminal.out(result.summary)
            if !result.recordedIn.isEmpty { Terminal.out("recorded in the manifest of \(result.baseBackup ?? "the base backup") in: \(result.recordedIn.joined(separator: ", "))") }
        }
        if !result.passed { throw ExitCode(ExitCodes.verificationFailed) }
    }
}

/// This binary's path, for the commands PostgreSQL runs (archive_command, restore_command).
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/usr/bin/backupctl"
}
