// A polyphonic sine synth with two parameters: gain (0-1) and attack in ms (0-100).
// Exact pitch (equal temperament, A4 = 440 Hz), sample-accurate note on/off, short release.
#include "DistrhoPlugin.hpp"
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <unistd.h>

START_NAMESPACE_DISTRHO

static constexpr int kVoices = 16;

class VmbSynth : public Plugin {
public:
    VmbSynth() : Plugin(2, 0, 0) {}

protected:
    const char* getLabel() const override { return DISTRHO_PLUGIN_NAME; }
    const char* getDescription() const override { return "Sine test synth for the video-midi-bridge tests"; }
    const char* getMaker() const override { return "VideoMidiBridge"; }
    const char* getLicense() const override { return "ISC"; }
    uint32_t getVersion() const override { return d_version(1, 0, 0); }
#if VMB_CRASH == 1
    int64_t getUniqueId() const override { return d_cconst('V', 'm', 'b', 'C'); }
#elif VMB_CRASH == 2
    int64_t getUniqueId() const override { return d_cconst('V', 'm', 'b', 'H'); }
#else
    int64_t getUniqueId() const override { return d_cconst('V', 'm', 'b', 'S'); }
#endif

    void initParameter(uint32_t index, Parameter& p) override {
        p.hints = kParameterIsAutomatable;
        if (index == 0) {
            p.name = "Gain"; p.symbol = "gain"; p.ranges.def = 0.5f; p.ranges.min = 0.0f; p.ranges.max = 1.0f;
        } else {
            p.name = "Attack"; p.symbol = "attack"; p.unit = "ms";
            p.ranges.def = 0.0f; p.ranges.min = 0.0f; p.ranges.max = 100.0f;
        }
    }
    float getParameterValue(uint32_t index) const override { return index == 0 ? fGain : fAttackMs; }
    void setParameterValue(uint32_t index, float value) override { if (index == 0) fGain = value; else fAttackMs = value; }

    void activate() override { for (auto& v : fVoices) v = Voice(); }

    void run(const float**, float** outputs, uint32_t frames, const MidiEvent* events, uint32_t count) override {
        float* const left = outputs[0];
        std::memset(left, 0, sizeof(float) * frames);
        uint32_t done = 0;
        for (uint32_t ev = 0; ev <= count; ++ev) {  // render up to each event's frame, then apply it
            const uint32_t until = ev < count ? std::min(events[ev].frame, frames) : frames;
            if (until > done) { renderVoices(left + done, until - done); done = until; }
            if (ev < count) handle(events[ev]);
        }
        for (uint32_t i = 0; i < frames; ++i) left[i] *= fGain;
        std::memcpy(outputs[1], left, sizeof(float) * frames);
    }

private:
    // The oscillator is a unit phasor (re, im) turned by (c, s) each sample: exact pitch without a sin() per sample.
    struct Voice { int note = -1; bool held = false; double level = 0.0, re = 1.0, im = 0.0, c = 1.0, s = 0.0, amp = 0.0; };
    Voice fVoices[kVoices];
    float fGain = 0.5f, fAttackMs = 0.0f;

    void renderVoices(float* out, uint32_t frames) {
        const double sr = getSampleRate();
        const double attackStep = fAttackMs > 0.0f ? 1.0 / (fAttackMs * 0.001 * sr) : 1.0;
        const double releaseStep = 1.0 / (0.002 * sr);
        for (auto& v : fVoices) {
            if (v.level <= 0.0 && !v.held) continue;
            double level = v.level, re = v.re, im = v.im;
            for (uint32_t i = 0; i < frames; ++i) {
                level = v.held ? std::fmin(1.0, level + attackStep) : std::fmax(0.0, level - releaseStep);
                out[i] += (float)(v.amp * level * im);
                const double next = re * v.c - im * v.s;
                im = re * v.s + im * v.c;
                re = next;
                if (level <= 0.0 && !v.held) break;  // released to silence
            }
            const double norm = 1.0 / std::sqrt(re * re + im * im);  // keep the phasor on the unit circle
            v.level = level; v.re = re * norm; v.im = im * norm;
        }
    }

    void handle(const MidiEvent& e) {
        if (e.size != 3) return;
        const uint8_t status = e.data[0] & 0xF0, note = e.data[1], vel = e.data[2];
        if (status == 0x90 && vel > 0) {
#if VMB_CRASH == 1
            std::abort();
#elif VMB_CRASH == 2
            for (;;) sleep(1);  // VmbHangSynth: never returns, to test the render timeout
#endif
            Voice* slot = &fVoices[0];
            for (auto& v : fVoices) if (!v.held && v.level <= 0.0) { slot = &v; break; }
            const double inc = 2.0 * M_PI * 440.0 * std::pow(2.0, (note - 69) / 12.0) / getSampleRate();
            slot->note = note; slot->held = true; slot->level = 0.0;
            slot->re = 1.0; slot->im = 0.0; slot->c = std::cos(inc); slot->s = std::sin(inc);
            slot->amp = 0.25 * vel / 127.0;
        } else if (status == 0x80 || (status == 0x90 && vel == 0)) {
            for (auto& v : fVoices) if (v.held && v.note == note) v.held = false;
        } else if (status == 0xB0 && (note == 123 || note == 120)) {
            for (auto& v : fVoices) { v.held = false; if (note == 120) v.level = 0.0; }
        }
    }
    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(VmbSynth)
};

Plugin* createPlugin() { return new VmbSynth(); }

END_NAMESPACE_DISTRHO
