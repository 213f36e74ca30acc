// VmbTestSynth: a tiny sine synth used by the test suite (built from Debian's dpf-source).
// Built three times: VmbTestSynth (VMB_CRASH 0), VmbCrashSynth (1: aborts on its first note) and
// VmbHangSynth (2: hangs on its first note). build.sh defines VMB_CRASH at the top of this file.
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND "VideoMidiBridge"
#if VMB_CRASH == 1
# define DISTRHO_PLUGIN_NAME "VmbCrashSynth"
# define DISTRHO_PLUGIN_URI  "urn:vmb:crashsynth"
#elif VMB_CRASH == 2
# define DISTRHO_PLUGIN_NAME "VmbHangSynth"
# define DISTRHO_PLUGIN_URI  "urn:vmb:hangsynth"
#else
# define DISTRHO_PLUGIN_NAME "VmbTestSynth"
# define DISTRHO_PLUGIN_URI  "urn:vmb:testsynth"
#endif

#define DISTRHO_PLUGIN_HAS_UI        0
#define DISTRHO_PLUGIN_IS_RT_SAFE    1
#define DISTRHO_PLUGIN_IS_SYNTH      1
#define DISTRHO_PLUGIN_NUM_INPUTS    0
#define DISTRHO_PLUGIN_NUM_OUTPUTS   2
#define DISTRHO_PLUGIN_WANT_MIDI_INPUT 1
#define DISTRHO_PLUGIN_WANT_STATE    0
#define DISTRHO_PLUGIN_VST3_CATEGORIES "Instrument|Synth"

#endif
