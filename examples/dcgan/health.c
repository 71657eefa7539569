/* The health monitor's checks; see health.h for the thresholds. */
#include <math.h>
#include <stdlib.h>

#include "health.h"

void health_init(health *h, FILE *out)
{
    *h = (health){.out = out, .first_spread = -1.0};
}

static bool finite_stats(const dcgan_step_stats *s)
{
    return isfinite(s->loss_d) && isfinite(s->loss_g) && isfinite(s->d_x) &&
           isfinite(s->d_g_z1) && isfinite(s->d_g_z2);
}

static void say_nonfinite(health *h, const char *net, const ganet_layer *l)
{
    char where[128];
    if (ganet_layer_find_nonfinite(l, where, sizeof where) != GANET_OK)
        return;
    if (where[0] != '\0')
        fprintf(h->out, "  first non-finite value in %s: %s\n", net, where);
}

void health_report_nonfinite(health *h, const dcgan *gan, const char *message,
                             int64_t step)
{
    fprintf(h->out,
            "health: iteration %lld: %s. The update that met it was "
            "refused, so no weight became NaN. A too large learning rate "
            "is the usual cause.\n",
            (long long)step, message);
    say_nonfinite(h, "G", gan->generator);
    say_nonfinite(h, "D", gan->discriminator);
}

bool health_check_step(health *h, const dcgan *gan, const dcgan_step_stats *s,
                       int64_t step)
{
    if (!finite_stats(s)) {
        fprintf(h->out,
                "health: step %lld: a loss is NaN or infinite (Loss_D %g, "
                "Loss_G %g). Training stops here: the weights would only "
                "get worse. A too large learning rate is the usual cause.\n",
                (long long)step, s->loss_d, s->loss_g);
        say_nonfinite(h, "G", gan->generator);
        say_nonfinite(h, "D", gan->discriminator);
        return false;
    }
    if (s->d_g_z1 < HEALTH_D_WON_BELOW) {
        h->d_won_run++;
    } else {
        h->d_won_run = 0;
        h->d_won_said = false;
    }
    if (h->d_won_run >= HEALTH_D_WON_STEPS && !h->d_won_said) {
        fprintf(h->out,
                "health: step %lld: D(G(z)) has stayed below %.2f for %d "
                "iterations. The discriminator has won: it rejects every "
                "fake, so the gradient reaching G is vanishing and G stops "
                "learning. Try a lower learning rate for D, label smoothing "
                "(--real-label 0.9) or restart from an earlier "
                "checkpoint.\n",
                (long long)step, (double)HEALTH_D_WON_BELOW,
                HEALTH_D_WON_STEPS);
        h->d_won_said = true;
    }
    return true;
}

double health_sample_spread(const ganet_tensor *samples)
{
    int64_t n = ganet_tensor_dim(samples, 0);
    int64_t count = ganet_tensor_count(samples);
    if (n < 2 || count <= 0)
        return 0.0;
    float *v = malloc((size_t)count * sizeof *v);
    if (v == NULL ||
        ganet_tensor_copy_to(samples, v, (size_t)count) != GANET_OK) {
        free(v);
        return 0.0;
    }
    int64_t pixels = count / n;
    double spread = 0.0;
    for (int64_t p = 0; p < pixels; p++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double x = v[i * pixels + p];
            sum += x;
            sq += x * x;
        }
        double mean = sum / (double)n;
        double var = sq / (double)n - mean * mean;
        spread += var > 0.0 ? sqrt(var) : 0.0;
    }
    free(v);
    return spread / (double)pixels;
}

void health_check_samples(health *h, const ganet_tensor *samples, int64_t epoch)
{
    double spread = health_sample_spread(samples);
    if (h->first_spread < 0.0) {
        h->first_spread = spread;
        return;
    }
    if (!h->collapse_said && spread < HEALTH_COLLAPSE_RATIO * h->first_spread) {
        fprintf(h->out,
                "health: epoch %lld: the samples have become alike (their "
                "spread is %.3f, it was %.3f). This is mode collapse: G "
                "found a few images that fool D and makes only those. Look "
                "at the sample grid; restarting from an earlier checkpoint "
                "with a lower learning rate often helps.\n",
                (long long)epoch, spread, h->first_spread);
        h->collapse_said = true;
    }
}
