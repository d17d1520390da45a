import ArgumentParser
import BackupKit
import Foundation

struct InstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write the files that run the plan on its schedule from systemd or cron.",
        subcommands: [Systemd.self, Cron.self]
    )

    /// Options both installers take.
    struct InstallOptions: ParsableArguments {
        @Flag(name: .long, help: "Print the files instead of writing them.")
        var print = false

        @Option(name: .long, help: ArgumentHelp("Write under this directory instead of / (for tests and packaging).", valueName: "DIR"))
        var prefix: String?

        @Option(name: [.long, .customLong("binary")], help: ArgumentHelp("The backupctl the job runs. Default: this one, unless it is inside a build folder (then this option is required).", valueName: "PATH"))
        var backupctl: String?

        @Option(name: .customLong("plan-path"), help: ArgumentHelp("The plan file the installed job reads. Default: the one this command loaded.", valueName: "PATH"))
        var planPath: String?
    }

    struct Systemd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write backup.service and backup.timer (under /etc/systemd/system) matching the plan's schedule.",
            discussion: """
            The service is sandboxed: it runs as --user (default: backup, Debian's backup user), sees the \
            file system read-only except the plan's local sinks, staging and state directories, and has no \
            privileges. That user must be able to read the sources. A plan built from environment \
            variables gets an EnvironmentFile= (written from the current environment, mode 0600, unless it \
            exists). Then: systemctl daemon-reload && systemctl enable --now backup.timer
            """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: InstallOptions
        @Option(name: .long, help: ArgumentHelp("The unit name. Default: backup.", valueName: "NAME"))
        var unit = "backup"
        @Option(name: .long, help: ArgumentHelp("The user the service runs as. Default: backup.", valueName: "USER"))
        var user = "backup"
        @Option(name: .customLong("environment-file"), help: ArgumentHelp("For a plan built from environment variables: the EnvironmentFile= the service reads. Default: /etc/backupctl/<unit>.env.", valueName: "FILE"))
        var environmentFile: String?

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let command = try InstallCommand.command(global: global, options: options)
                var settings = SystemdUnits.ServiceSettings(user: user)
                var environment: EnvironmentFile?
                if global.planFile == nil {
                    let file = EnvironmentFile(path: environmentFile ?? "/etc/backupctl/\(unit).env", environment: ProcessInfo.processInfo.environment)
                    settings.environmentFile = file.path
                    settings.workingDirectory = FileManager.default.currentDirectoryPath
                    environment = file
                }
                let files = SystemdUnits(plan: plan, unit: unit, command: command, settings: settings).files
                let kept = plan.sinks.compactMap(\.capabilities.localDirectory) + [plan.resolvedStateDirectory]
                for path in Set(kept).sorted() where SystemdUnits.isPrivateTemporary(path) {
                    Terminal.error("""
                    backupctl: warning: plan '\(plan.name)' keeps backups or its state (lock, last run, signing key) in \(path); \
                    the service has a private /tmp (PrivateTmp=yes) that is emptied after every run. Move it (state_dir: /var/lib/backupctl, a sink's path).
                    """)
                }
                try InstallCommand.emit(files, options: options)
                if let environment { try environment.emit(options: options) }
            } catch { throw fail(error) }
        }
    }

    struct Cron: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write /etc/cron.d/<plan>-backup matching the plan's schedule.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: InstallOptions
        @Option(name: .long, help: ArgumentHelp("The user the job runs as. Default: root.", valueName: "USER"))
        var user = "root"
        @Option(name: .long, help: ArgumentHelp("Where the job's output goes. Default: /var/log/backupctl-<plan>.log.", valueName: "FILE"))
        var log: String?

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let file = CronFile(plan: plan, user: user, log: log, command: try InstallCommand.command(global: global, options: options))
                try InstallCommand.emit([file.file], options: options)
            } catch { throw fail(error) }
        }
    }

    /// `backupctl run --config /abs/path/backup.yml`, with absolute paths. The binary is --backupctl,
    /// else the real path of this one; a job that runs a build folder's binary breaks at the next
    /// `swift build` or clean, so that is refused.
    static func command(global: GlobalOptions, options: InstallOptions) throws -> [String] {
        let executable: String
        if let given = options.backupctl {
            executable = resolvePath(given, against: FileManager.default.currentDirectoryPath)
        } else {
            let running = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            guard !isInBuildFolder(running) else {
                throw BackupError(.usage, """
                this backupctl is \(running), inside a build folder, which the next build or clean replaces; \
                install backupctl (the .deb puts it in /usr/bin) and run that one, or name the binary the job runs with --backupctl PATH
                """)
            }
            executable = running
        }
        var command = [executable, "run"]
        if let file = options.planPath ?? global.planFile { command += ["--config", resolvePath(file, against: FileManager.default.currentDirectoryPath)] }
        return command
    }

    /// Whether `path` lies in a SwiftPM build folder (`.build`, or a scratch path such as `.build-release`).
    static func isInBuildFolder(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0.hasPrefix(".build") }
    }

    static func emit(_ files: [(path: String, contents: String)], options: InstallOptions) throws {
        for (path, contents) in files {
            if options.print {
                Terminal.out("# \(path)")
                Terminal.out(contents)
                continue
            }
            let target = (options.prefix.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "") + path
            let directory = (target as NSString).deletingLastPathComponent
            try makeDirectory(directory, mode: nil, purpose: "the directory")
            try AtomicFileWriter.write(Array(contents.utf8), to: target, mode: 0o644)
            Terminal.out("wrote \(target)")
        }
    }
}
