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

        @Option(name: .long, help: ArgumentHelp("The backupctl the units run. Default: this one.", valueName: "PATH"))
        var backupctl: String?

        @Option(name: .customLong("plan-path"), help: ArgumentHelp("The plan file the installed job reads. Default: the one this command loaded.", valueName: "PATH"))
        var planPath: String?
    }

    struct Systemd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write backup.service and backup.timer (under /etc/systemd/system) matching the plan's schedule.",
            discussion: "Then: systemctl daemon-reload && systemctl enable --now backup.timer"
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var options: InstallOptions
        @Option(name: .long, help: ArgumentHelp("The unit name. Default: backup.", valueName: "NAME"))
        var unit = "backup"

        func run() async throws {
            do {
                let plan = try global.loadPlan()
                let files = SystemdUnits(plan: plan, unit: unit, command: InstallCommand.command(global: global, options: options))
                try InstallCommand.emit(files.files, options: options)
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
                let file = CronFile(plan: plan, user: user, log: log, command: InstallCommand.command(global: global, options: options))
                try InstallCommand.emit([file.file], options: options)
            } catch { throw fail(error) }
        }
    }

    /// `backupctl run --config /abs/path/backup.yml`, with absolute paths.
    static func command(global: GlobalOptions, options: InstallOptions) -> [String] {
        let executable = options.backupctl ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var command = [executable, "run"]
        if let file = options.planPath ?? global.planFile { command += ["--config", resolvePath(file, against: FileManager.default.currentDirectoryPath)] }
        return command
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
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFileWriter.write(Array(contents.utf8), to: target, mode: 0o644)
            Terminal.out("wrote \(target)")
        }
    }
}
