import ArgumentParser
import BackupKit
import BackupSources
import Foundation
import Glibc
import Logging

struct WALCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal",
        abstract: "Archive and fetch PostgreSQL WAL for point-in-time recovery (archive_command, restore_command).",
        discussion: """
        A postgres source with `pitr:` archives its cluster's WAL. PostgreSQL runs, as its own OS user:
          archive_command = 'backupctl wal push --config PLAN %p'
          restore_command = 'backupctl wal fetch --config PLAN %f %p'
        `backupctl pitr setup --print` prints the exact lines.
        """,
        subcommands: [Push.self, Fetch.self, Drain.self, Status.self]
    )

    struct SourceOption: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("The postgres source whose WAL this is; default: the plan's only source with pitr:.", valueName: "NAME"))
        var source: String?
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "archive_command: spool a WAL file durably, then push it to the WAL sinks in the background.",
            discussion: """
            Copies %p into the spool (temporary name, fsync, link) and exits 0 only when the copy is on disk; a \
            background pusher (one per spool) sends it to every WAL sink, so a slow or unreachable sink never stalls \
            the database. Pushing the same file again succeeds; a different file under an archived name fails (exit \
            22) and alerts wal_conflict. A full spool (spool_limit) or disk fails (exit 7), so PostgreSQL keeps the \
            file and retries.
            Exit codes: 0 spooled or already archived, 2 not a WAL file or plan error, 7 spool full, 22 conflict, 1 other.
            """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var sourceOption: SourceOption

        @Argument(help: ArgumentHelp("The file PostgreSQL archives (%p).", valueName: "PATH"))
        var path: String

        @Flag(name: .customLong("no-pusher"), help: "Only spool; do not start the background pusher (`wal drain` pushes).")
        var noPusher = false

        func run() async throws {
            let archive: WALArchive
            do {
                archive = try WALArchive(plan: try global.loadPlan(), source: sourceOption.source)
            } catch { throw fail(error) }
            do {
                let (name, outcome, _) = try archive.spool.accept(path)
                if global.json {
                    Terminal.json(["file": name.name, "outcome": outcome.rawValue], schema: .walPush)
                }
                if !noPusher { try await startPusher(archive) }
            } catch let error as BackupError where error.code == .walConflict || error.code == .diskSpace {
                // PostgreSQL retries a failed file every few seconds: one alert an hour per problem.
                let event: AlertEvent = error.code == .walConflict ? .walConflict : .diskSpace
                if archive.spool.isAlertDue("\(event.rawValue) \(URL(fileURLWithPath: path).lastPathComponent)") {
                    await sendAlert(archive, event, error.message)
                }
                if !noPusher { try? await startPusher(archive) }
                throw fail(error)
            } catch { throw fail(error) }
        }

        /// Starts `wal drain --background` in its own session, unless a pusher already waits to run. A
        /// pusher that cannot be started fails the push (PostgreSQL keeps the file and retries; the
        /// spooled copy makes the retry a success once a pusher runs) and alerts wal_lag.
        func startPusher(_ archive: WALArchive) async throws {
            guard !WALPusherLock.someoneWaits(spool: archive.spool.directory) else { return }
            var arguments = ["backupctl", "wal", "drain", "--background", "--source", archive.source.name]
            if let file = global.planFile { arguments += ["--config", URL(fileURLWithPath: file).path] }
            do {
                try spawnDetached(executable: "/proc/self/exe", arguments: arguments, log: archive.spool.directory + "/pusher.log")
            } catch let error as BackupError {
                if archive.spool.isAlertDue("pusher") { await sendAlert(archive, .walLag, "the WAL pusher cannot be started: \(error.message)") }
                throw error
            }
        }
    }

    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "restore_command: fetch a WAL file from the spool or the WAL sinks, check it, write it to PATH.",
            discussion: """
            Exit codes: 0 written; 1 the archive has no such file (how recovery learns it reached the end); 126 a \
            copy exists but none passes its checks (SHA-256, zstd checksum, age authentication), or a sink is \
            unreachable: PostgreSQL stops recovery instead of ending it early.
            """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var sourceOption: SourceOption
        @OptionGroup var identities: IdentityOptions

        @Option(name: .long, help: ArgumentHelp("Keep prefetched segments here (the next 8 are fetched in parallel on a miss).", valueName: "DIR"))
        var cache: String?

        @Argument(help: ArgumentHelp("The WAL file PostgreSQL asks for (%f).", valueName: "NAME"))
        var name: String

        @Argument(help: ArgumentHelp("Where to write it (%p).", valueName: "PATH"))
        var path: String

        func run() async throws {
            do {
                let archive = try WALArchive(plan: try global.loadPlan(), source: sourceOption.source)
                let fetcher = archive.fetcher(identities: try identities.load(), cacheDirectory: cache, logger: global.makeLogger())
                switch try await fetcher.fetch(name, to: path) {
                case .found(let from):
                    if global.json { Terminal.json(["file": name, "from": from], schema: .walFetch) }
                case .missing:
                    throw ExitCode(ExitCodes.failure)
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                let wrapped = BackupError.wrap(error, as: .verificationFailed, "wal fetch \(name)")
                Terminal.error("backupctl: \(wrapped.message)")
                if let cache { recordFetchFailure(wrapped.message, cache: cache) }
                throw ExitCode(126)
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Push the spooled WAL to the WAL sinks now, and wait until the spool is empty.",
            discussion: "Exit codes: 0 the spool is empty, 5 another pusher is waiting (with --background), 1 a sink failed (with --once)."
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var sourceOption: SourceOption

        @Flag(name: .long, help: "As `wal push` starts it: leave at once when another pusher already waits to run.")
        var background = false

        @Flag(name: .long, help: "Give up after the first failed round instead of retrying until the sinks answer.")
        var once = false

        func run() async throws {
            do {
                let archive = try WALArchive(plan: try global.loadPlan(), source: sourceOption.source)
                try makeDirectory(archive.spool.directory, purpose: "the WAL spool")
                guard let lock = try WALPusherLock.acquire(spool: archive.spool.directory, wait: !background) else { return }
                let logger = global.makeLogger()
                let pusher = try archive.pusher(logger: logger) { event, summary in await sendAlert(archive, event, summary) }
                let outcome = try await pusher.drain(giveUpAfterFailures: once ? 1 : nil)
                withExtendedLifetime(lock) {}
                if global.json { Terminal.json(["pushed": outcome.pushed, "failed_rounds": outcome.failures], schema: .walDrain) }
            } catch { throw fail(error) }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The WAL archive: the spool, the newest archived segment and its age, gaps, and the recovery window.",
            discussion: "Exit codes: 0 healthy, 1 lagging or a gap (wal_lag / wal_gap), 2 plan error."
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var sourceOption: SourceOption

        func run() async throws {
            do {
                let archive = try WALArchive(plan: try global.loadPlan(), source: sourceOption.source)
                let report = try await PITRStatus.gather(archive)
                report.record(in: archive.plan)
                if global.json {
                    Terminal.json(report, schema: .walStatus)
                } else {
                    for line in report.lines { Terminal.out(line) }
                }
                if !report.problems.isEmpty { throw ExitCode(ExitCodes.failure) }
            } catch let exit as ExitCode { throw exit } catch { throw fail(error) }
        }
    }
}

/// Sends an alert about `archive` through the plan's notifiers.
func sendAlert(_ archive: WALArchive, _ event: AlertEvent, _ summary: String) async {
    let alert = Alert(event: event, plan: archive.plan.name, host: currentHostName(), summary: "source '\(archive.source.name)': \(summary)")
    _ = await AlertDispatcher(notifiers: archive.plan.notifiers, logger: Logger(label: "backupctl")).send([alert])
}

/// Appends a fetch failure to the prefetch cache's `fetch-errors`, where the PITR drill reads it.
private func recordFetchFailure(_ message: String, cache: String) {
    try? FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
    let fd = open(cache + "/fetch-errors", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    let line = message + "\n"
    _ = line.withCString { write(fd, $0, strlen($0)) }
    close(fd)
}
