import BackupKit
import CCurl
import Foundation

/// One HTTP(S), SFTP or SMTP transfer through a libcurl easy handle, which this object owns and frees.
///
/// It is used from one thread at a time and blocks in ``perform()``: callers run it inside
/// ``runBlocking(_:)``. Request bodies are pulled from a closure and response bodies pushed to one, so
/// nothing is held whole in memory. A Swift error thrown in a callback is kept and rethrown after
/// libcurl returns. Errors never include credentials: URLs are shown with their password redacted.
package final class CurlRequest {
    private let handle: UnsafeMutableRawPointer
    private let context = CurlContext()
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var quoteLists: [UnsafeMutablePointer<curl_slist>?] = []
    private var retainedStrings: [UnsafeMutablePointer<CChar>] = []
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    package let url: String

    /// The answer to a request (its `status` is the SFTP or SMTP reply code for those protocols).
    package typealias Response = HTTPResponse

    package init(url: String) throws {
        ignoreBrokenPipes()
        _ = curlGlobalInit
        guard let handle = curl_easy_init() else { throw BackupError(.io, "libcurl: cannot create a handle") }
        self.handle = handle
        self.url = url
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        try set(CURLOPT_URL, url)
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_CONNECTTIMEOUT, 15)
        // A transfer that moves less than 1 KiB/s for a minute is stalled: fail it so it can be retried.
        try set(CURLOPT_LOW_SPEED_LIMIT, 1024)
        try set(CURLOPT_LOW_SPEED_TIME, 60)
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        try check(bk_curl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback))
        try check(bk_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, opaque))
        try check(bk_curl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback))
        try check(bk_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, opaque))
        try check(bk_curl_setopt_write_callback(handle, CURLOPT_READFUNCTION, curlReadCallback))
        try check(bk_curl_setopt_pointer(handle, CURLOPT_READDATA, opaque))
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        quoteLists.forEach { curl_slist_free_all($0) }
        retainedStrings.forEach { free($0) }
        errorBuffer.deallocate()
    }

    // MARK: Options

    package func set(_ option: CURLoption, _ value: Int) throws {
        try check(bk_curl_setopt_long(handle, option, value))
    }

    package func set(_ option: CURLoption, _ value: String) throws {
        // libcurl copies strings, except a few; keep our copy alive as long as the handle either way.
        let copy = strdup(value)!
        retainedStrings.append(copy)
        try check(bk_curl_setopt_string(handle, option, copy))
    }

    package func set(_ option: CURLoption, _ value: UnsafeMutableRawPointer) throws {
        try check(bk_curl_setopt_pointer(handle, option, value))
    }

    package func setLarge(_ option: CURLoption, _ value: Int64) throws {
        try check(bk_curl_setopt_off_t(handle, option, curl_off_t(value)))
    }

    /// Sets the function that decides about SSH host keys (`CURLOPT_SSH_KEYFUNCTION`).
    package func setSSHKeyCallback(_ callback: curl_sshkeycallback) throws {
        try check(bk_curl_setopt_sshkey_callback(handle, CURLOPT_SSH_KEYFUNCTION, callback))
    }

    /// Adds a request header line such as `Content-Type: application/json`.
    package func addHeader(_ line: String) {
        headerList = curl_slist_append(headerList, line)
    }

    /// Commands run after the transfer (`CURLOPT_POSTQUOTE`), such as an SFTP `rename`.
    package func setQuote(_ option: CURLoption, _ commands: [String]) throws {
        var list: UnsafeMutablePointer<curl_slist>?
        for command in commands { list = curl_slist_append(list, command) }
        quoteLists.append(list)
        try check(bk_curl_setopt_slist(handle, option, list))
    }

    /// Streams the request body from `read`, which fills a buffer and returns 0 at the end.
    package func setBody(length: Int64?, _ read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        context.read = read
        if let length { try setLarge(CURLOPT_INFILESIZE_LARGE, length) }
    }

    /// Sends `bytes` as the request body.
    package func setBody(_ bytes: [UInt8]) throws {
        var offset = 0
        try setBody(length: Int64(bytes.count)) { buffer in
            let count = min(buffer.count, bytes.count - offset)
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
            offset += count
            return count
        }
    }

    /// Hands each chunk of the response body to `handler` instead of collecting it. With
    /// `onlyWhenSuccessful`, an error status's body is collected instead (for its error message).
    package func onData(onlyWhenSuccessful: Bool = true, _ handler: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        context.dataHandler = handler
        context.handlerOnlyOnSuccess = onlyWhenSuccessful
    }

    /// Called once the response headers are complete, before the first body byte.
    package func onHeaders(_ handler: @escaping (Int, [String: String]) throws -> Void) {
        context.headersHandler = handler
    }

    // MARK: Perform

    /// Performs the transfer. Throws for transport failures, as ``CurlFailure`` explains them (with
    /// ``BackupError/Kind/transient`` for timeouts, resets and refused connections); HTTP error statuses
    /// are returned, not thrown.
    package func perform() throws -> Response {
        if let headerList { try check(bk_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)) }
        context.statusProvider = { [handle] in
            var code = 0
            bk_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
            return code
        }
        let code = curl_easy_perform(handle)
        if code == CURLE_OK && context.error == nil {
            // A response without a body never reached the data callback: announce its headers now.
            do { try context.finishHeaders() } catch { context.error = error }
        }
        if let error = context.error { throw error }
        var status = 0
        bk_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        guard code == CURLE_OK else {
            let buffer = String(cString: errorBuffer)
            var systemErrno = 0
            var connectTime: curl_off_t = 0
            bk_curl_getinfo_long(handle, CURLINFO_OS_ERRNO, &systemErrno)
            bk_curl_getinfo_off_t(handle, CURLINFO_CONNECT_TIME_T, &connectTime)
            throw CurlFailure(code: code, detail: Redaction.redactURLCredentials(buffer.isEmpty ? String(cString: curl_easy_strerror(code)) : buffer),
                              systemErrno: Int32(truncatingIfNeeded: systemErrno), connected: connectTime > 0, url: url).error
        }
        return Response(status: status, headers: context.headers, body: context.collected)
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else { throw BackupError(.io, "libcurl: \(String(cString: curl_easy_strerror(code)))") }
    }
}

/// Everything the C callbacks reach through their `void *`.
final class CurlContext {
    var read: ((UnsafeMutableRawBufferPointer) throws -> Int)?
    var dataHandler: ((UnsafeRawBufferPointer) throws -> Void)?
    var handlerOnlyOnSuccess = true
    var headersHandler: ((Int, [String: String]) throws -> Void)?
    var statusProvider: (() -> Int)?
    var headers: [String: String] = [:]
    var collected: [UInt8] = []
    var collectLimit = 16 << 20
    var headersDone = false
    var error: (any Error)?

    func finishHeaders() throws {
        guard !headersDone else { return }
        headersDone = true
        try headersHandler?(statusProvider?() ?? 0, headers)
    }
}

private let curlGlobalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

private let curlWriteCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, user in
    let context = Unmanaged<CurlContext>.fromOpaque(user!).takeUnretainedValue()
    let length = size * count
    let bytes = UnsafeRawBufferPointer(start: data, count: length)
    do {
        try context.finishHeaders()
        let status = context.statusProvider?() ?? 0
        if let handler = context.dataHandler, !context.handlerOnlyOnSuccess || (200..<300).contains(status) || status == 0 {
            try handler(bytes)
        } else if context.collected.count < context.collectLimit {
            context.collected.append(contentsOf: bytes.prefix(context.collectLimit - context.collected.count))
        }
        return length
    } catch {
        context.error = error
        return 0
    }
}

private let curlHeaderCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, user in
    let context = Unmanaged<CurlContext>.fromOpaque(user!).takeUnretainedValue()
    let length = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new response (after a 100 Continue or a redirect): forget the previous one's headers.
        context.headers = [:]
        context.headersDone = false
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        context.headers[name] = value
    }
    return length
}

private let curlReadCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, user in
    let context = Unmanaged<CurlContext>.fromOpaque(user!).takeUnretainedValue()
    guard let read = context.read else { return 0 }
    do {
        return try read(UnsafeMutableRawBufferPointer(start: data, count: size * count))
    } catch {
        context.error = error
        return Int(CURL_READFUNC_ABORT)
    }
}
