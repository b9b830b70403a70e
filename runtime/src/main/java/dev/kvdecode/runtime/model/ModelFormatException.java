package dev.kvdecode.runtime.model;

/**
 * A model directory or file that cannot be used. The message is one line naming the file
 * and what is wrong, e.g. {@code model.safetensors: header length 99999999 exceeds file size 1024}.
 */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) { super(message); }
    public ModelFormatException(String message, Throwable cause) { super(message, cause); }
}
