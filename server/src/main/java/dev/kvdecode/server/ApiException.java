package dev.kvdecode.server;

/**
 * A request the server refuses, answered in OpenAI's error shape
 * {@code {"error": {"message", "type", "param", "code"}}} with an HTTP status.
 */
final class ApiException extends RuntimeException {
    final int status;
    final String type, param, code;

    ApiException(int status, String type, String param, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: a field is missing, of the wrong type or out of range. */
    static ApiException badField(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "invalid_value", param + ": " + message);
    }

    static ApiException badRequest(String code, String message) {
        return new ApiException(400, "invalid_request_error", null, code, message);
    }
}
