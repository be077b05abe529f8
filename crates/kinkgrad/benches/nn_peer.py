"""PyTorch eager peer of benches/nn.rs: one training step (forward, cross-entropy, backward, Adam)
of LeNet and of the MLP 784-256-10 on a batch of 64 in f32. Prints the median seconds per step.

    python benches/nn_peer.py
"""
import time
import statistics
import torch
import torch.nn as nn

torch.manual_seed(0)


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def time_step(model, reps=200):
    x = (torch.rand(64, 1, 28, 28) < 0.2).float() * torch.rand(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(20):
        step()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
print(f"lenet_train_step_b64_f32 {time_step(lenet()):.6f}")
print(f"mlp_train_step_b64_f32 {time_step(mlp()):.6f}")
