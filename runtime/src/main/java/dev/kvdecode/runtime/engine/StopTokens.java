package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.model.Model;
import dev.kvdecode.runtime.tokenizer.ChatTemplate;
import dev.kvdecode.runtime.tokenizer.TokenizerException;

import java.util.ArrayList;
import java.util.List;

/** The end-of-text ids a generation stops at, shared by `generate` and the server. */
public final class StopTokens {
    private StopTokens() {}

    /**
     * The model's eos ids (config.json and generation_config.json, {@code ModelConfig.eosIds()}),
     * the tokenizer's eos, and with a chat template its {@code eos_token} when that is one token
     * (Qwen's "&lt;|im_end|&gt;", Llama 3's "&lt;|eot_id|&gt;"; a text of several tokens adds nothing); sorted, distinct, possibly empty.
     *
     * @param template the chat template, or null for plain text
     */
    public static int[] of(Model m, ChatTemplate template) {
        return of(m, template == null ? null : template.eosToken());
    }

    /**
     * As {@link #of(Model, ChatTemplate)}, with the chat template's {@code eos_token} text given
     * (null for plain text, or a template without one).
     */
    public static int[] of(Model m, String chatEosToken) {
        List<Integer> ids = new ArrayList<>(m.config().eosIds());
        int tokEos = m.tokenizer().eosToken();
        if (tokEos >= 0) ids.add(tokEos);
        if (chatEosToken != null) {
            try {
                int[] e = m.tokenizer().encode(chatEosToken, false);
                if (e.length == 1) ids.add(e[0]);
            } catch (TokenizerException notInVocabulary) {
                // a char vocabulary without the eos text's characters: no extra stop id
            }
        }
        return GenerationOptions.ids(ids);
    }
}
