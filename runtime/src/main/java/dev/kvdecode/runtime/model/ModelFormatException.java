package dev.kvdecode.runtime.model;

/**
 * A model directory or file that cannot be used. The message is one line naming the file
 * and what is wrong, e.g. {@code model.safetensors: header length 99999999 exceeds file size 1024}.
 * Messages quote file content (tensor names, dtype and key values); control characters in it are
 * escaped ({@link #oneLine}) so that the message stays one line whatever the file holds.
 */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) { super(oneLine(message)); }
    public ModelFormatException(String message, Throwable cause) { super(oneLine(message), cause); }

    /**
     * The text with line breaks and other control characters (and U+2028/U+2029) written as
     * {@code \\uXXXX}; the text itself when it has none. Found by fuzzing (docs/FUZZING.md): a
     * config.json value or tensor name holding a newline split the one-line error in two.
     */
    public static String oneLine(String text) {
        if (text == null || text.chars().noneMatch(ModelFormatException::breaksLine)) return text;
        StringBuilder sb = new StringBuilder(text.length() + 16);
        text.chars().forEach(c -> {
            if (breaksLine(c)) sb.append(String.format("\\u%04X", c));
            else sb.append((char) c);
        });
        return sb.toString();
    }

    private static boolean breaksLine(int c) { return Character.isISOControl(c) || c == 0x2028 || c == 0x2029; }
}
