import ArgumentParser
import BackupKit
import Foundation
import Synchronization

/// The whole `backupctl` command line, as a library: a program of your own gets every command, with
/// its own sinks, sources, notifiers and formats usable by `type:` in plan files.
///
/// ```swift
/// import BackupCommands
///
/// var registry = PlanRegistry.standard
/// registry.registerSink(type: "my-nas") { definition, decoder in
///     try MyNASSink(name: definition.name, configuration: .init(from: decoder))
/// }
/// await Backupctl.main(registry: registry)
/// ```
public struct Backupctl: AsyncParsableCommand {
    public init() {}

    /// Runs the command line with the component types `registry` knows, and exits with the documented
    /// exit code. It bootstraps swift-log's `LoggingSystem` (stderr, at `--log-level`), so a program
    /// that calls it must not bootstrap logging itself.
    public static func main(registry: PlanRegistry) async {
        CommandRegistry.install(registry)
        await main(CommandLine.arguments.dropFirst().map(\.self))
    }

    /// Parses `arguments` and runs the command. Usage errors (an unknown option, a missing value, a
    /// failed validation) exit 2, as documented, not swift-argument-parser's 64; with `--json` they are
    /// printed as a JSON error on stdout too.
    public static func main(_ arguments: [String]) async {
        Terminal.jsonMode.withLock { $0 = arguments.contains("--json") }
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            exitWithError(error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
        } catch {
            exitWithError(error)
        }
    }

    private static func exitWithError(_ error: any Error) -> Never {
        let code = exitCode(for: error)
        guard code == .validationFailure else { exit(withError: error) }
        let message = fullMessage(for: error)
        Terminal.error(message)
        if Terminal.jsonMode.withLock({ $0 }) {
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            Terminal.jsonError(BackupError(.usage, firstLine.replacingOccurrences(of: "Error: ", with: "")), exitCode: ExitCodes.usage)
        }
        Foundation.exit(ExitCodes.usage)
    }

    public static let configuration = CommandConfiguration(
        commandName: "backupctl",
        abstract: "Back up directories, files and databases; verify every backup; keep them under a retention policy; restore them.",
        discussion: """
        The plan comes from --config FILE, else $BACKUP_CONFIG, else ./backup.yml if it exists, else the \
        environment (BACKUP_DIR, BACKUP_RETENTION_DAYS, BACKUP_SOURCE_DIRS, BACKUP_CONFIG_FILES, ...).

        Exit codes:
          0  success
          1  the backup (or another operation) failed
          2  usage error (an unknown option, an invalid value) or plan error: nothing was written
          3  verification failed
          4  degraded: the set was stored, but a sink failed (its preflight check, or storing)
          5  another run of the plan holds the lock
          6  credentials are missing
          7  not enough disk space
          8  the restore was refused or failed
          9  the set or artifact asked for does not exist
         10  the server refused the credentials (authentication failed)
         11  the server cannot be reached
         12  the database does not exist
         13  a client tool (pg_dump) is older than the server
         14  a hook command failed or timed out
         15  status --max-age: a sink's newest good set is too old, or there is none
         16  run was interrupted by SIGTERM or SIGINT and stopped at a safe point (after_backup
             hooks ran, a failure alert went out, the state was recorded); a second signal stops
             it at once
         17  an encrypted set needs the identity, and none was given (--identity FILE)
         18  none of the identities given opens the encrypted set
         19  the passphrase does not open a passphrase-protected identity file
         20  an encrypted artifact is cut short
         21  an encrypted artifact's age header or payload was changed
         22  wal push: a different file under a WAL name the archive already holds

        With --json, every command prints one JSON object on stdout whose "schema" key names its layout \
        (docs/json); a command that fails first prints {"error": {"code", "exit_code", "message"}}.
        """,
        version: BackupKitVersion.current,
        subcommands: [RunCommand.self, ListCommand.self, VerifyCommand.self, RestoreCommand.self, PruneCommand.self, ConfigCommand.self, NotifyCommand.self,
                      ScheduleCommand.self, StatusCommand.self, InstallCommand.self, KeyCommand.self,
                      LsCommand.self, FindCommand.self, DiffCommand.self, WALCommand.self, PITRCommand.self]
    )
}
