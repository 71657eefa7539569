/* Threads: contexts on separate threads train the same small network at
 * the same time and end bit for bit where a single-threaded run of the
 * same work ends, and a failure on one thread leaves the last-error
 * message of every other thread alone. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ganet/activation.h"
#include "ganet/batchnorm.h"
#include "ganet/context.h"
#include "ganet/conv.h"
#include "ganet/loss.h"
#include "ganet/optimizer.h"
#include "ganet/sequential.h"

enum { BATCH = 8, SIDE = 8, STEPS = 6, JOBS = 4, ROUNDS = 3 };

/* One training run: what it is given and what it ends with. */
typedef struct job {
    uint64_t seed;
    int num_threads;
    pthread_barrier_t *start;
    ganet_status status;
    char error[512];
    float losses[STEPS];
    float *values;
    size_t count;
    uint32_t next_random;
} job;

/* ---- the work each thread does --------------------------------------- */

#define TRY(call)                                                              \
    do {                                                                       \
        ganet_status try_st_ = (call);                                         \
        if (try_st_ != GANET_OK)                                               \
            return try_st_;                                                    \
    } while (0)

#define JOB_TRY(call)                                                          \
    do {                                                                       \
        ganet_status job_st_ = (call);                                         \
        if (job_st_ != GANET_OK) {                                             \
            j->status = job_st_;                                               \
            snprintf(j->error, sizeof j->error, "%s: %s", #call,               \
                     ganet_last_error());                                      \
            goto done;                                                         \
        }                                                                      \
    } while (0)

static ganet_status add_conv(ganet_context *ctx, ganet_layer *seq, int64_t cin,
                             int64_t cout, int64_t stride, int64_t padding)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = cin;
    o.out_channels = cout;
    o.kernel[0] = o.kernel[1] = 4;
    o.stride[0] = o.stride[1] = stride;
    o.padding[0] = o.padding[1] = padding;
    ganet_layer *l = NULL;
    ganet_status st = ganet_conv2d_create(ctx, &o, &l);
    if (st == GANET_OK)
        st = ganet_sequential_add(seq, l);
    if (st != GANET_OK)
        ganet_layer_destroy(l);
    return st;
}

/* Append a layer just created, or destroy it when either step failed. */
static ganet_status append(ganet_layer *seq, ganet_status created,
                           ganet_layer **l)
{
    ganet_status st = created;
    if (st == GANET_OK)
        st = ganet_sequential_add(seq, *l);
    if (st != GANET_OK)
        ganet_layer_destroy(*l);
    return st;
}

/* (N, 1, 8, 8) -> Conv2d(1, 4, 4, 2, 1) -> (N, 4, 4, 4) -> BatchNorm2d ->
 * LeakyReLU(0.2) -> Conv2d(4, 1, 4, 1, 0) -> (N, 1, 1, 1) -> Sigmoid. */
static ganet_status build(ganet_context *ctx, ganet_layer *seq)
{
    ganet_batchnorm2d_options bo = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    bo.num_features = 4;
    ganet_layer *bn = NULL, *act = NULL, *sig = NULL;
    ganet_status st = add_conv(ctx, seq, 1, 4, 2, 1);
    if (st == GANET_OK)
        st = append(seq, ganet_batchnorm2d_create(ctx, &bo, &bn), &bn);
    if (st == GANET_OK)
        st = append(seq, ganet_leaky_relu_create(ctx, 0.2f, &act), &act);
    if (st == GANET_OK)
        st = add_conv(ctx, seq, 4, 1, 1, 0);
    if (st == GANET_OK)
        st = append(seq, ganet_sigmoid_create(ctx, &sig), &sig);
    return st;
}

/* Every parameter and buffer of the network, in order, in one array. */
static ganet_status collect(ganet_layer *net, job *j)
{
    int np = ganet_layer_param_count(net), nb = ganet_layer_buffer_count(net);
    size_t total = (size_t)ganet_layer_param_values(net);
    for (int i = 0; i < nb; i++) {
        ganet_tensor *t = NULL;
        TRY(ganet_layer_buffer(net, i, NULL, &t));
        total += (size_t)ganet_tensor_count(t);
    }
    j->values = malloc(total * sizeof *j->values);
    if (j->values == NULL)
        return GANET_ERR_OUT_OF_MEMORY;
    size_t at = 0;
    for (int i = 0; i < np + nb; i++) {
        ganet_tensor *t = NULL;
        if (i < np)
            TRY(ganet_layer_param(net, i, NULL, &t, NULL));
        else
            TRY(ganet_layer_buffer(net, i - np, NULL, &t));
        size_t n = (size_t)ganet_tensor_count(t);
        TRY(ganet_tensor_copy_to(t, j->values + at, n));
        at += n;
    }
    j->count = at;
    return GANET_OK;
}

/* The same images for every job; the noise added to them each step comes
 * from the job's own context, so it is the same for the same seed. */
static void fill_batch(ganet_tensor *noise, float *host, ganet_tensor *x,
                       ganet_status *st)
{
    enum { COUNT = BATCH * SIDE * SIDE };
    if (*st == GANET_OK)
        *st = ganet_tensor_fill_normal(noise, 0.0f, 0.1f);
    if (*st == GANET_OK)
        *st = ganet_tensor_copy_to(noise, host, COUNT);
    for (int i = 0; *st == GANET_OK && i < COUNT; i++)
        host[i] += (float)((i * 37 + i / 64 * 11) % 29) / 14.0f - 1.0f;
    if (*st == GANET_OK)
        *st = ganet_tensor_copy_from(x, host, COUNT);
}

/* Build, train STEPS Adam steps on BCE, then collect the parameters. */
static void run_job(job *j)
{
    ganet_context *ctx = NULL;
    ganet_layer *net = NULL;
    ganet_optimizer *opt = NULL;
    ganet_loss *bce = NULL;
    ganet_tensor *x = NULL, *noise = NULL, *target = NULL;
    float host[BATCH * SIDE * SIDE];
    j->status = GANET_OK;
    j->error[0] = '\0';

    ganet_context_options co = GANET_CONTEXT_OPTIONS_DEFAULT;
    co.seed = j->seed;
    co.num_threads = j->num_threads;
    co.log_level = GANET_LOG_NONE;
    JOB_TRY(ganet_context_create(&co, &ctx));
    JOB_TRY(ganet_sequential_create(ctx, &net));
    JOB_TRY(build(ctx, net));
    ganet_adam_options ao = GANET_ADAM_OPTIONS_DEFAULT;
    ao.lr = 2e-3f;
    ao.beta1 = 0.5f;
    JOB_TRY(ganet_adam_create(net, &ao, &opt));
    JOB_TRY(ganet_loss_create(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN, &bce));
    JOB_TRY(ganet_tensor_create_4d(ctx, BATCH, 1, SIDE, SIDE, &x));
    JOB_TRY(ganet_tensor_create_4d(ctx, BATCH, 1, SIDE, SIDE, &noise));
    JOB_TRY(ganet_tensor_create_4d(ctx, BATCH, 1, 1, 1, &target));
    float labels[BATCH];
    for (int i = 0; i < BATCH; i++)
        labels[i] = (float)(i % 2);
    JOB_TRY(ganet_tensor_copy_from(target, labels, BATCH));

    /* Start together, so that the jobs really overlap. */
    if (j->start != NULL)
        pthread_barrier_wait(j->start);
    for (int step = 0; step < STEPS; step++) {
        ganet_status st = GANET_OK;
        fill_batch(noise, host, x, &st);
        JOB_TRY(st);
        const ganet_tensor *y = NULL, *dy = NULL;
        JOB_TRY(ganet_optimizer_zero_grad(opt));
        JOB_TRY(ganet_layer_forward(net, x, GANET_MODE_TRAINING, &y));
        JOB_TRY(ganet_loss_forward(bce, y, target, &j->losses[step]));
        JOB_TRY(ganet_loss_backward(bce, &dy));
        JOB_TRY(ganet_layer_backward(net, dy, NULL));
        JOB_TRY(ganet_optimizer_step(opt));
    }
    JOB_TRY(collect(net, j));
    JOB_TRY(ganet_context_random_u32(ctx, &j->next_random));
done:
    ganet_tensor_destroy(target);
    ganet_tensor_destroy(noise);
    ganet_tensor_destroy(x);
    ganet_loss_destroy(bce);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(net);
    ganet_context_destroy(ctx);
}

static void *job_thread(void *arg)
{
    run_job(arg);
    return NULL;
}

static void assert_job_ok(const job *j)
{
    if (j->status != GANET_OK)
        fail_msg("job with seed %llu failed: %s", (unsigned long long)j->seed,
                 j->error);
}

static void assert_same_run(const job *a, const job *b)
{
    assert_int_equal(a->count, b->count);
    assert_memory_equal(a->values, b->values, a->count * sizeof *a->values);
    assert_memory_equal(a->losses, b->losses, sizeof a->losses);
    assert_int_equal(a->next_random, b->next_random);
}

/* Reference runs on this thread, one per seed, then ROUNDS rounds of JOBS
 * threads at once with the seeds interleaved; each must match its
 * reference bit for bit. */
static void check_concurrent_runs(int num_threads)
{
    job ref[2] = {{.seed = 11, .num_threads = num_threads},
                  {.seed = 12, .num_threads = num_threads}};
    for (int s = 0; s < 2; s++) {
        run_job(&ref[s]);
        assert_job_ok(&ref[s]);
    }
    /* The seeds lead to different networks, so a job that picked up the
     * other seed's state could not pass. */
    assert_int_equal(ref[0].count, ref[1].count);
    assert_memory_not_equal(ref[0].values, ref[1].values,
                            ref[0].count * sizeof *ref[0].values);

    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, JOBS), 0);
        job jobs[JOBS];
        pthread_t threads[JOBS];
        for (int i = 0; i < JOBS; i++) {
            jobs[i] = (job){.seed = ref[i % 2].seed,
                            .num_threads = num_threads,
                            .start = &start};
            assert_int_equal(
                    pthread_create(&threads[i], NULL, job_thread, &jobs[i]), 0);
        }
        for (int i = 0; i < JOBS; i++)
            assert_int_equal(pthread_join(threads[i], NULL), 0);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < JOBS; i++) {
            assert_job_ok(&jobs[i]);
            assert_same_run(&jobs[i], &ref[i % 2]);
            free(jobs[i].values);
        }
    }
    free(ref[0].values);
    free(ref[1].values);
}

static void test_threads_training_matches_single_thread(void **state)
{
    (void)state;
    check_concurrent_runs(1);
}

/* Each context's own oneDNN thread count holds on its thread. */
static void test_threads_training_with_two_threads_per_context(void **state)
{
    (void)state;
    check_concurrent_runs(2);
}

/* ---- the last-error message ------------------------------------------ */

typedef struct error_job {
    pthread_barrier_t *failed_first, *all_done;
    char before[512], after[512];
    ganet_status status;
} error_job;

/* Fails with a negative thread count, then reads its message again after
 * the other thread failed differently. */
static void *fail_first(void *arg)
{
    error_job *e = arg;
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.num_threads = -3;
    ganet_context *ctx = NULL;
    e->status = ganet_context_create(&o, &ctx);
    snprintf(e->before, sizeof e->before, "%s", ganet_last_error());
    pthread_barrier_wait(e->failed_first);
    pthread_barrier_wait(e->all_done);
    snprintf(e->after, sizeof e->after, "%s", ganet_last_error());
    return NULL;
}

/* Fails with a log level out of range once the first thread has failed. */
static void *fail_second(void *arg)
{
    error_job *e = arg;
    pthread_barrier_wait(e->failed_first);
    snprintf(e->before, sizeof e->before, "%s", ganet_last_error());
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.log_level = 9;
    ganet_context *ctx = NULL;
    e->status = ganet_context_create(&o, &ctx);
    snprintf(e->after, sizeof e->after, "%s", ganet_last_error());
    pthread_barrier_wait(e->all_done);
    return NULL;
}

/* Never fails; reads its message after both others have failed. */
static void *never_fail(void *arg)
{
    error_job *e = arg;
    pthread_barrier_wait(e->all_done);
    snprintf(e->after, sizeof e->after, "%s", ganet_last_error());
    return NULL;
}

static void test_threads_last_error_is_per_thread(void **state)
{
    (void)state;
    /* This thread's own failure, which the others must not replace. */
    assert_int_equal(ganet_context_create(NULL, NULL), GANET_ERR_NULL_POINTER);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", ganet_last_error());
    assert_true(mine[0] != '\0');

    pthread_barrier_t failed_first, all_done;
    assert_int_equal(pthread_barrier_init(&failed_first, NULL, 2), 0);
    assert_int_equal(pthread_barrier_init(&all_done, NULL, 3), 0);
    error_job e[3];
    memset(e, 0, sizeof e);
    void *(*fns[3])(void *) = {fail_first, fail_second, never_fail};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        e[i].failed_first = &failed_first;
        e[i].all_done = &all_done;
        assert_int_equal(pthread_create(&threads[i], NULL, fns[i], &e[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&failed_first);
    pthread_barrier_destroy(&all_done);

    assert_int_equal(e[0].status, GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e[0].before, "-3"));
    assert_string_equal(e[0].after, e[0].before);
    /* The second thread starts with an empty message of its own. */
    assert_string_equal(e[1].before, "");
    assert_int_equal(e[1].status, GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e[1].after, "9"));
    assert_null(strstr(e[1].after, "-3"));
    assert_string_equal(e[2].after, "");
    assert_string_equal(ganet_last_error(), mine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_threads_training_matches_single_thread),
            cmocka_unit_test(
                    test_threads_training_with_two_threads_per_context),
            cmocka_unit_test(test_threads_last_error_is_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
