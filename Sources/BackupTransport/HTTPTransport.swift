/// Sends one HTTP request and returns the answer: the seam between the S3 client (and the webhook and
/// heartbeat notifiers) and the network. ``CurlHTTPTransport`` is the real one; tests script the
/// answers to check the client's own rules (retries, aborting multipart uploads, resuming downloads)
/// without a server.
///
/// ## Contract
/// - ``send(_:onHeaders:onData:)`` blocks and performs exactly one exchange, without retries.
/// - A failure to exchange (refused, reset, timed out) throws a ``BackupError``, of kind
///   ``BackupError/Kind/transient`` when trying again may help. An HTTP error status is returned, not thrown.
/// - `onHeaders` is called once, when the final response's headers are in, before the first body byte.
/// - `onData` receives a 2xx response's body in order, in chunks, and the returned body is then empty;
///   any other status's body is collected in ``HTTPResponse/body`` (for its error message). An error
///   thrown by either closure ends the exchange and is rethrown.
package protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest, onHeaders: ((Int, [String: String]) throws -> Void)?,
              onData: ((UnsafeRawBufferPointer) throws -> Void)?) throws -> HTTPResponse
}

extension HTTPTransport {
    /// Sends a request and collects its answer's body.
    package func send(_ request: HTTPRequest) throws -> HTTPResponse {
        try send(request, onHeaders: nil, onData: nil)
    }
}
