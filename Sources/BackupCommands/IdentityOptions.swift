import ArgumentParser
import BackupKit
import Foundation
import Glibc

/// `--identity FILE`, for the commands that read encrypted sets.
struct IdentityOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "An age identity file that opens encrypted sets (as `age -i`; repeatable). Default: $BACKUP_ENCRYPTION_IDENTITY_FILE (several: separated by ':'). A passphrase-protected file asks for its passphrase on the terminal, or reads $BACKUP_ENCRYPTION_PASSPHRASE.",
        valueName: "FILE"))
    var identity: [String] = []

    /// The identity files given, else those the variable names.
    var files: [String] {
        if !identity.isEmpty { return identity }
        let value = ProcessInfo.processInfo.environment[IdentityFile.variable] ?? ""
        return value.split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    /// Every identity in the files; the passphrase is asked once, and only when a file needs one.
    func load() throws -> [AgeIdentity] {
        var passphrase: String?
        return try files.flatMap { file in
            try IdentityFile.load(file) {
                if let passphrase { return passphrase }
                let asked = try Passphrase.obtain(prompt: "passphrase for \(file): ")
                passphrase = asked
                return asked
            }
        }
    }
}

/// Reads passphrases without echo, from the terminal or from `BACKUP_ENCRYPTION_PASSPHRASE`; never
/// from the command line, where other users could read it.
enum Passphrase {
    static func obtain(prompt: String, confirm: Bool = false) throws -> String {
        if let value = ProcessInfo.processInfo.environment[IdentityFile.passphraseVariable], !value.isEmpty { return value }
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else {
            throw BackupError(.usage, "a passphrase is needed and there is no terminal to ask on: set \(IdentityFile.passphraseVariable)")
        }
        defer { close(tty) }
        let first = try read(prompt: prompt, tty: tty)
        if confirm {
            guard try read(prompt: "confirm the passphrase: ", tty: tty) == first else {
                throw BackupError(.usage, "the two passphrases differ; nothing was written")
            }
        }
        guard !first.isEmpty else { throw BackupError(.usage, "the passphrase is empty") }
        return first
    }

    private static func read(prompt: String, tty: Int32) throws -> String {
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        var saved = termios()
        let isTerminal = tcgetattr(tty, &saved) == 0
        if isTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(tty, TCSAFLUSH, &quiet)
        }
        defer {
            if isTerminal { tcsetattr(tty, TCSAFLUSH, &saved) }
            _ = write(tty, "\n", 1)
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(tty, &byte, 1) == 1, byte != 0x0A, bytes.count < 4096 {
            bytes.append(byte)
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
